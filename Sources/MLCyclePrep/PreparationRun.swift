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
        try collectFitted(spec, directory: directory, main: main, reader: reader).table
    }

    /// Collects as `collect` does and returns the sources as fitted: the entity's steps and each later source as a
    /// lookup (training joins through the lookups, so serving completes a request with the same code). Sources are
    /// nil when the spec lists none.
    public static func collectFitted(
        _ spec: PreparationSpec, directory: String, main: Table?, reader: SourceReader = fileReader
    ) throws -> (table: Table, sources: FittedSources?) {
        var merged: Table? = main
        var entity = try main.map { (name: "main", steps: try PreparationPipeline.fit([], on: $0).0) }
        var lookups = [Lookup]()
        for (i, source) in spec.sources.enumerated() {
            let path =
                source.path.hasPrefix("/") || source.isDatabase
                ? source.path : (directory as NSString).appendingPathComponent(source.path)
            let read = try reader(source, path)
            let (steps, t) = try PreparationPipeline.fit(source.steps, on: read)
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
                let lookup = try Lookup(
                    name: source.name, join: join, records: t,
                    leftColumns: FittedPipeline.ColumnSpec.of(left), live: try live(source, steps: steps))
                merged = try lookup.join(left, kind: kind)
                lookups.append(lookup)
            } else {
                merged = t
                entity = (source.name, steps)
            }
        }
        guard let merged, let entity else {
            throw PrepError.invalid(step: "sources", reason: "no data: name a file with --data or list sources")
        }
        let sources =
            spec.sources.isEmpty
            ? nil : FittedSources(entity: entity.name, entitySteps: entity.steps, lookups: lookups)
        return (merged, sources)
    }

    /// How serving reads `source` when it is live (`serving: live`): its database, query, fitted steps and cache.
    static func live(_ source: SourceSpec, steps: FittedPipeline) throws -> Lookup.Live? {
        guard let cache = source.live else { return nil }
        guard source.isDatabase, let query = source.query else {
            throw PrepError.invalid(
                step: "source \(source.name)", reason: "serving: live reads from a database: give url: and query:")
        }
        return Lookup.Live(url: source.path, query: query, steps: steps, cache: cache)
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
