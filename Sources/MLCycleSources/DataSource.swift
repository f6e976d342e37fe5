import Foundation
import MLCycleData

/// Where a table comes from: a CSV file, a JSON Lines file, or a query on a SQLite database.
public enum DataSource: Sendable {
    case csv(path: String, options: CSVOptions)
    case jsonLines(path: String)
    case sqlite(path: String, query: String)

    /// Picks the reader from the file name: `.jsonl`/`.ndjson` are JSON Lines, `.tsv` is tab-separated CSV,
    /// anything else is CSV; with a `query` the file is a SQLite database.
    public static func forFile(_ path: String, query: String? = nil, csvOptions: CSVOptions = CSVOptions())
        -> DataSource
    {
        if let query { return .sqlite(path: path, query: query) }
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        switch ext {
        case "jsonl", "ndjson": return .jsonLines(path: path)
        case "tsv", "tab":
            var o = csvOptions
            if o.delimiter == "," { o.delimiter = "\t" }
            return .csv(path: path, options: o)
        default: return .csv(path: path, options: csvOptions)
        }
    }

    /// Reads the table.
    public func load() throws -> MLCycleData.Table {
        switch self {
        case .csv(let path, let options): return try CSVReader.read(path: path, options: options)
        case .jsonLines(let path): return try JSONLines.read(path: path)
        case .sqlite(let path, let query): return try SQLiteSource.read(database: path, query: query)
        }
    }
}
