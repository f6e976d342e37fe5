import Foundation
import GRDB
import MLCycleData

/// Reads a table from a SQLite database with a query (read-only: the database is never written).
public enum SQLiteSource {
    /// Runs `query` and returns its result as a table; column types are inferred from the values as for JSON Lines.
    public static func read(database path: String, query: String) throws -> MLCycleData.Table {
        guard FileManager.default.fileExists(atPath: path) else { throw DataError.fileNotFound(path: path) }
        var config = Configuration()
        config.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            return try queue.read { db in
                let statement = try db.makeStatement(sql: query)
                let names = statement.columnNames
                var cells = [[Value]](repeating: [], count: names.count)
                let rows = try Row.fetchCursor(statement)
                while let row = try rows.next() {
                    for i in 0..<names.count {
                        let value: Value
                        switch row[i] as DatabaseValue {
                        case let v where v.isNull: value = .missing
                        case let v:
                            switch v.storage {
                            case .null: value = .missing
                            case .int64(let x): value = .int64(x)
                            case .double(let x): value = .float64(x)
                            case .string(let s): value = .string(s)
                            case .blob(let data): value = .string(data.base64EncodedString())
                            }
                        }
                        cells[i].append(value)
                    }
                }
                let uniqueNames = uniquify(names)
                return try MLCycleData.Table(
                    columns: zip(uniqueNames, cells).map { try Column.inferring(name: $0, cells: $1) })
            }
        } catch let error as DatabaseError {
            throw DataError.invalidArgument("\(path): the query failed: \(error.message ?? error.description)")
        }
    }

    /// SQL allows repeated result names (`SELECT a, a`); a table does not.
    static func uniquify(_ names: [String]) -> [String] {
        var seen = [String: Int]()
        return names.map { n in
            let k = seen[n, default: 0]
            seen[n] = k + 1
            return k == 0 ? n : "\(n).\(k)"
        }
    }
}
