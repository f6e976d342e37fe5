import Foundation
import Logging
import MLCycleData
import MLCycleStore
import PostgresNIO

/// Reads a table from the team's PostgreSQL database with a query (`source: {url: postgres://…, query: "SELECT …"}`).
/// Rows are read as they arrive; each column takes the database's declared type, never a guess from the values.
public enum PostgresSource {
    /// Why a query could not be read.
    public enum ReadError: LocalizedError, Equatable {
        case connection(location: String, reason: String)
        case query(location: String, reason: String)
        case unreadableType(column: String, type: String)

        public var errorDescription: String? {
            switch self {
            case .connection(let location, let reason):
                return "cannot read from PostgreSQL at \(location): \(reason)"
            case .query(let location, let reason):
                return "the query on PostgreSQL at \(location) failed: \(reason)"
            case .unreadableType(let column, let type):
                return
                    "column '\(column)' has the PostgreSQL type \(type), which mlcycle does not read: cast it in the query (\(column)::text, ::double precision, ::date)"
            }
        }
    }

    /// The mlcycle type a PostgreSQL type is read as: integers, floating-point and numeric, boolean, text-like types
    /// (text, varchar, char, name, uuid, json), date and timestamp (with or without time zone; stored in UTC).
    static func dataType(_ type: PostgresDataType) -> DataType? {
        switch type {
        case .int2, .int4, .int8: return .int64
        case .float4, .float8, .numeric: return .float64
        case .bool: return .bool
        case .text, .varchar, .bpchar, .name, .char, .uuid, .json, .jsonb: return .string
        case .date: return .date
        case .timestamp, .timestamptz: return .timestamp
        default: return nil
        }
    }

    /// Runs `query` on the database at `url` (`${NAME}` taken from the environment, the password from the URL or
    /// `PGPASSWORD`) and returns its rows as a table.
    public static func read(
        url text: String, query: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        timeout: Duration = .seconds(15)
    ) async throws -> MLCycleData.Table {
        let target = try PostgresURL(try StoreLocation.expand(text, environment: environment), environment: environment)
        var logger = Logger(label: "mlcycle.source.postgres")
        logger.logLevel = .critical
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try target.connectionConfiguration(timeout: timeout), id: 0, logger: logger)
        } catch {
            throw ReadError.connection(location: target.location, reason: describe(error))
        }
        do {
            let table = try await read(
                connection, query: PostgresQuery(unsafeSQL: query), location: target.location, logger: logger)
            try? await connection.close()
            guard let table else { throw ReadError.query(location: target.location, reason: "it returned no rows") }
            return table
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The rows `query` returns as a table, or nil when it returns none.
    static func read(_ connection: PostgresConnection, query: PostgresQuery, location: String, logger: Logger)
        async throws -> MLCycleData.Table?
    {
        var names = [String]()
        var types = [DataType]()
        var cells = [[Value]]()
        do {
            let rows = try await connection.query(query, logger: logger)
            for try await row in rows {
                if names.isEmpty {
                    for cell in row {
                        guard let type = dataType(cell.dataType) else {
                            throw ReadError.unreadableType(column: cell.columnName, type: "\(cell.dataType)")
                        }
                        names.append(cell.columnName)
                        types.append(type)
                    }
                    cells = Array(repeating: [], count: names.count)
                }
                for (i, cell) in row.enumerated() {
                    cells[i].append(try value(cell, as: types[i]))
                }
            }
        } catch let error as ReadError {
            throw error
        } catch {
            throw ReadError.query(location: location, reason: describe(error))
        }
        if names.isEmpty { return nil }
        let unique = SQLiteSource.uniquify(names)
        return try MLCycleData.Table(
            columns: (0..<names.count).map { try Column(name: unique[$0], type: types[$0], values: cells[$0]) })
    }

    /// One cell as mlcycle's value (NULL: missing).
    static func value(_ cell: PostgresCell, as type: DataType) throws -> Value {
        guard cell.bytes != nil else { return .missing }
        switch type {
        case .int64: return .int64(try cell.decode(Int64.self))
        case .float64:
            if cell.dataType == .numeric {
                // Through its decimal text: the nearest double, as a CSV reader would parse the same digits.
                let d = try cell.decode(Decimal.self)
                guard let value = Double(d.description) else {
                    throw ReadError.unreadableType(column: cell.columnName, type: "numeric")
                }
                return .float64(value)
            }
            return .float64(try cell.decode(Double.self))
        case .bool: return .bool(try cell.decode(Bool.self))
        case .string: return .string(try cell.decode(String.self))
        case .date:
            let seconds = try cell.decode(Date.self).timeIntervalSince1970
            return .date(Int64((seconds / 86_400).rounded(.down)))
        case .timestamp:
            return .timestamp(Int64((try cell.decode(Date.self).timeIntervalSince1970 * 1_000_000).rounded()))
        }
    }

    /// PostgreSQL's message for an error (as the store words it), never the password.
    static func describe(_ error: any Error) -> String {
        PostgresStore.storeError(error).localizedDescription
    }
}
