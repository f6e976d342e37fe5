import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCyclePrep
import MLCycleSources
import MLCycleStore

/// Batch scoring (`mlcycle predict`): a model file, a bundle file or a registered model scores a table, one output
/// row per input row. CSV streams through in blocks — memory stays flat however large the file, each block is
/// parsed and scored on every core, read with the types the model was trained on, and the output appears whole
/// (temporary file + rename) or not at all.
public struct BatchScorer {
    /// Scores one block of rows (reading live lookups' records from their databases).
    public let score: (Table) async throws -> Table
    /// The input columns' types in training, so every block reads alike.
    public let inputTypes: [String: DataType]
    /// `NAME vN` for a registered model, nil for a file.
    public let scoredBy: String?

    /// `reference` is a model file (`mlcycle train --out`), a bundle file, or a registered model NAME[@ALIAS|:VERSION]
    /// in the store `store` opens (only asked for when `reference` is not a file). A damaged file is its own error.
    public static func load(_ reference: String, store: () async throws -> any Store) async throws -> BatchScorer {
        switch try await SavedModel.load(reference, store: store) {
        case .bundle(let bundle, let scoredBy):
            // A bundle applies its own preparation, scope and range, as the server does.
            return BatchScorer(bundle: bundle, scoredBy: scoredBy)
        case .file(let file):
            return BatchScorer(
                score: { try file.predictTable($0) }, inputTypes: inputTypes(try file.model().schema), scoredBy: nil)
        }
    }

    /// Explains instead of scoring (`mlcycle explain`): per row, the expected value and each input column's
    /// contribution (each feature's the model sees, with `perFeature`), for the class it predicts.
    public static func explaining(_ reference: String, perFeature: Bool, store: () async throws -> any Store)
        async throws -> BatchScorer
    {
        switch try await SavedModel.load(reference, store: store) {
        case .bundle(let bundle, let scoredBy):
            let reader = PostgresLookupReader()
            let labels = try bundle.model.model().labels
            return BatchScorer(
                score: {
                    let completed = try await bundle.complete($0, reading: reader)
                    return try Explanation.table(
                        try bundle.contributions(merged: completed.table, credited: !perFeature), labels: labels)
                },
                inputTypes: inputTypes(bundle), scoredBy: scoredBy)
        case .file(let file):
            let model = try file.model()
            return BatchScorer(
                score: {
                    try Explanation.table(try model.contributions(try model.schema.encode($0)), labels: model.labels)
                },
                inputTypes: inputTypes(model.schema), scoredBy: nil)
        }
    }

    init(score: @escaping (Table) async throws -> Table, inputTypes: [String: DataType], scoredBy: String?) {
        self.score = score
        self.inputTypes = inputTypes
        self.scoredBy = scoredBy
    }

    init(bundle: ModelBundle, scoredBy: String?, lookupReader: any LiveRecordReader = PostgresLookupReader()) {
        let labels = (try? bundle.model.model().labels) ?? []
        self.init(
            score: {
                try Self.table(try bundle.score(try await bundle.complete($0, reading: lookupReader)), labels: labels)
            },
            inputTypes: Self.inputTypes(bundle), scoredBy: scoredBy)
    }

    /// The types a bundle's accepted columns had in training, so every block reads alike.
    static func inputTypes(_ bundle: ModelBundle) -> [String: DataType] {
        Dictionary(bundle.acceptedColumns.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
    }

    /// The types a model file's input columns had in training.
    static func inputTypes(_ schema: FeatureSchema) -> [String: DataType] {
        Dictionary(schema.features.map { ($0.name, $0.sourceType) }, uniquingKeysWith: { a, _ in a })
    }

    /// Scores the table in `path` into `out` (CSV; "-" for standard output) and returns how many rows it scored.
    public func score(file path: String, csvOptions: CSVOptions, to out: String, blockBytes: Int = 32 << 20)
        async throws -> Int
    {
        guard case .csv(_, var options) = DataSource.forFile(path, csvOptions: csvOptions) else {
            let table = try DataSource.forFile(path, csvOptions: csvOptions).load()
            let bytes = CSVWriter.bytes(try await score(table))
            if out == "-" {
                FileHandle.standardOutput.write(Data(bytes))
            } else {
                try AtomicFile.write(Data(bytes), to: out)
            }
            return table.rowCount
        }
        let present = Set(try CSVReader.columnNames(path: path, options: options))
        for (name, type) in inputTypes where present.contains(name) && options.columnTypes[name] == nil {
            options.columnTypes[name] = type
        }
        let writer = try AtomicFileWriter(path: out == "-" ? "/dev/stdout" : out)
        var rows = 0
        var blocks = try CSVBlocks(path: path, options: options, blockBytes: blockBytes)
        while let (block, firstRow) = try blocks.next() {
            try writer.write(CSVWriter.bytes(try await score(block), header: firstRow == 0))
            rows += block.rowCount
        }
        try writer.commit()
        return rows
    }

    /// One row per input row: prediction, lower, upper, a classifier's `probability_<label>` per class, confidence,
    /// status and the reasons a row is unavailable.
    static func table(_ scored: [ModelBundle.Scored], labels: [String] = []) throws -> Table {
        let columns =
            [
                Column(
                    name: "prediction", strings: scored.map { s in s.value.map { formatDouble($0) } ?? s.prediction }),
                Column(name: "lower", doubles: scored.map { $0.range?[0] }),
                Column(name: "upper", doubles: scored.map { $0.range?[1] }),
            ]
            + labels.map { label in
                Column(name: "probability_\(label)", doubles: scored.map { $0.probabilities[label] })
            }
            + [
                Column(name: "confidence", doubles: scored.map(\.confidence)),
                Column(name: "status", strings: scored.map(\.status)),
                Column(
                    name: "reasons",
                    strings: scored.map { $0.reasons.isEmpty ? nil : $0.reasons.joined(separator: "; ") }),
            ]
        return try Table(columns: columns)
    }
}
