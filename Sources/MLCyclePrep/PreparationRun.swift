import Foundation
import MLCycleData

/// A whole preparation: sources merged, rows split, steps fitted on the training part and applied to every part.
public struct PreparationResult: Sendable {
    public var pipeline: FittedPipeline
    /// Every prepared row, parts in order (train, validation, test), with a `split` column naming each row's part.
    public var table: Table
    /// The merged table before the steps (what serving requests must look like, plus the target).
    public var collected: Table
    public var split: SplitSpec?
}

public enum PreparationRun {
    /// Reads and joins the spec's sources (paths relative to `directory`); `main` stands in for the first source
    /// when the spec has none. Each source's own steps are fitted on that whole source: keep them to row-wise
    /// cleaning (text, dates, duplicates) — statistics belong in the main steps, fitted on training rows only.
    /// Reads one source's file (given its resolved path). The default reads CSV and JSON Lines; the CLI passes one
    /// that also runs SQLite queries (this module stays free of database code).
    public typealias SourceReader = @Sendable (SourceSpec, String) throws -> Table

    public static let fileReader: SourceReader = { source, path in
        if source.query != nil {
            throw PrepError.invalid(
                step: "source \(source.name)",
                reason: "a query source needs the SQLite reader (mlcycle run and prepare have it)")
        }
        return path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson")
            ? try JSONLines.read(path: path) : try CSVReader.read(path: path)
    }

    public static func collect(
        _ spec: PreparationSpec, directory: String, main: Table?, reader: SourceReader = fileReader
    ) throws -> Table {
        var merged: Table? = main
        for (i, source) in spec.sources.enumerated() {
            let path =
                source.path.hasPrefix("/") || source.isDatabase
                ? source.path : (directory as NSString).appendingPathComponent(source.path)
            var t = try reader(source, path)
            if !source.steps.isEmpty { t = try PreparationPipeline.fit(source.steps, on: t).1 }
            if let left = merged, i > 0 || main != nil {
                guard let join = source.join else {
                    throw PrepError.invalid(
                        step: "source \(source.name)",
                        reason: "every source after the first needs 'join' (keys and kind)")
                }
                let kind: JoinKind
                switch join.kind {
                case "left": kind = .left
                case "inner": kind = .inner
                default:
                    throw PrepError.invalid(
                        step: "source \(source.name)", reason: "join kind '\(join.kind)' is not left or inner")
                }
                for k in join.keys {
                    if left[k.left] == nil {
                        throw PrepError.missingColumn(
                            step: "join \(source.name)", column: k.left, available: left.columnNames)
                    }
                    if t[k.right] == nil {
                        throw PrepError.missingColumn(
                            step: "join \(source.name)", column: k.right, available: t.columnNames)
                    }
                }
                merged = try left.joined(with: t, on: join.keys.map { ($0.left, $0.right) }, kind: kind)
            } else {
                merged = t
            }
        }
        guard let merged else {
            throw PrepError.invalid(step: "sources", reason: "no data: name a file with --data or list sources")
        }
        return merged
    }

    /// Collects, splits (when the spec has a split), fits the steps on the training rows and applies them to all.
    public static func run(
        _ spec: PreparationSpec, directory: String, main: Table?, target: String?, reader: SourceReader = fileReader
    ) throws -> PreparationResult {
        let collected = try collect(spec, directory: directory, main: main, reader: reader)
        if let target, collected[target] == nil {
            throw PrepError.missingColumn(step: "target", column: target, available: collected.columnNames)
        }
        let parts =
            try spec.split.map { try Splitter.assign(collected, $0) }
            ?? [SplitPart](repeating: .train, count: collected.rowCount)
        let rows = { (p: SplitPart) in parts.indices.filter { parts[$0] == p } }
        let train = collected.taking(rows(.train))
        let (pipeline, preparedTrain) = try PreparationPipeline.fit(
            spec.steps, on: train, target: target, seed: spec.split?.seed ?? 42)
        var pieces = [(preparedTrain, SplitPart.train)]
        for p in [SplitPart.validation, .test] where parts.contains(p) {
            pieces.append((try pipeline.transform(collected.taking(rows(p))).table, p))
        }
        let labelled = try pieces.map { t, p in
            try t.setting(Column(name: "split", strings: [String?](repeating: p.rawValue, count: t.rowCount)))
        }
        return PreparationResult(
            pipeline: pipeline, table: try Table.concatenate(labelled), collected: collected, split: spec.split)
    }
}
