import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCyclePrep

/// A request the server cannot answer, with what to fix: the HTTP status, a message, and the field and row at fault.
public struct RequestError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    public var field: String?
    public var row: Int?

    public init(status: Int = 400, _ message: String, field: String? = nil, row: Int? = nil) {
        self.status = status
        self.message = message
        self.field = field
        self.row = row
    }

    /// `{"error": …, "field": …, "row": …}`.
    public var json: Data {
        struct Body: Encodable {
            var error: String
            var field: String?
            var row: Int?
        }
        return (try? ModelServer.encoder.encode(Body(error: message, field: field, row: row)))
            ?? Data("{\"error\":\"bad request\"}".utf8)
    }
}

/// What a request for one bundle may and must carry, worked out once per bundle rather than per request: the
/// columns it accepts in order, their names with the target's (a labelled row may carry it), and the columns every
/// row must name.
public struct RequestPlan: Sendable {
    public let accepted: [FittedPipeline.ColumnSpec]
    public let known: Set<String>
    public let required: Set<String>
    /// Each accepted column's place in `accepted`, and whether every row must name it (by that place).
    let position: [String: Int]
    let mustName: [Bool]

    public init(_ bundle: ModelBundle) {
        let accepted = bundle.acceptedColumns
        let required = bundle.requiredRequestColumns
        self.accepted = accepted
        self.required = required
        known = Set(accepted.map(\.name) + [bundle.target])
        position = Dictionary(accepted.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        mustName = accepted.map { required.contains($0.name) }
    }
}

/// Turns request rows into a table of the bundle's input schema, checking every value.
public enum RowDecoder {
    /// Request rows as cells: `cells[column][row]`, for the column names in `names`; nil where a row does not
    /// name the column at all (which differs from an explicit null).
    public struct Cells {
        public var names: [String]
        public var cells: [[JSONValue?]]
        public var rowCount: Int
        /// The body's `"explain": N`: how many contributions to show per row (nil: none asked).
        public var explain: Int? = nil
    }

    /// The number of contributions a request asks to see per row (`"explain": 5` or `?explain=5`): 0 to 1000.
    public static func explainCount(_ value: JSONValue?) throws -> Int? {
        guard let value else { return nil }
        guard case .number(let n) = value, n == n.rounded(), n >= 0, n <= 1000 else {
            throw RequestError(
                "\"explain\" is how many contributions to show per row, a whole number from 0 to 1000 (such as 5)",
                field: "explain")
        }
        return Int(n)
    }

    /// `?explain=N` as `explainCount(_:)` reads it.
    public static func explainCount(query text: String?) throws -> Int? {
        guard let text else { return nil }
        guard let n = Double(text) else {
            throw RequestError(
                "explain is how many contributions to show per row, a whole number from 0 to 1000 (such as 5); got "
                    + "'\(text)'", field: "explain")
        }
        return try explainCount(.number(n))
    }

    /// Parses a JSON body; malformed JSON is a 400 saying where.
    public static func parse(_ data: Data) throws -> JSONValue {
        do { return try JSONValue.parse(data) } catch {
            throw RequestError("the body is not valid JSON: \(error.localizedDescription)")
        }
    }

    /// Rows from `{"records": [{col: value, …}]}` or `{"columns": [...], "data": [[...]]}` (also MLflow's
    /// `dataframe_records` / `dataframe_split`, `instances` and `inputs`, and a column-oriented `{col: [values]}`).
    public static func cells(fromJSON data: Data, strict: Bool = false) throws -> Cells {
        guard case .object(let members) = try parse(data) else {
            throw RequestError("the body must be a JSON object with \"records\" or \"columns\" and \"data\"")
        }
        let body = JSONValue.object(members)
        if strict,
            let extra = members.map(\.0).sorted().first(where: {
                !["records", "columns", "data", "explain"].contains($0)
            })
        {
            throw RequestError(
                "unknown field '\(extra)'; the body holds \"records\", or \"columns\" and \"data\", and may ask to "
                    + "\"explain\"", field: extra)
        }
        var cells = try rows(body)
        cells.explain = try explainCount(body["explain"])
        return cells
    }

    /// The rows of a parsed body (see `cells(fromJSON:strict:)`).
    static func rows(_ body: JSONValue) throws -> Cells {
        if let records = body["records"] ?? body["dataframe_records"] ?? body["instances"] ?? body["inputs"] {
            switch records {
            case .array(let list):
                var index = [String: Int]()
                var names = [String]()
                var cells = [[JSONValue?]]()
                if case .object(let first) = list.first {
                    index.reserveCapacity(first.count)
                    names.reserveCapacity(first.count)
                    cells.reserveCapacity(first.count)
                }
                for (r, item) in list.enumerated() {
                    guard case .object(let row) = item else {
                        throw RequestError(
                            "\"records\" must be a list of objects, one per row", field: "records", row: r)
                    }
                    for (k, v) in row {
                        let c: Int
                        if let known = index[k] {
                            c = known
                        } else {
                            c = names.count
                            index[k] = c
                            names.append(k)
                            cells.append([JSONValue?](repeating: nil, count: list.count))
                        }
                        cells[c][r] = v
                    }
                }
                return Cells(names: names, cells: cells, rowCount: list.count)
            case .object(let columnar):
                return try columns(columnar.map { ($0.0, $0.1) })
            default:
                throw RequestError("\"records\" must be a list of objects, one per row", field: "records")
            }
        }
        if let split = body["dataframe_split"] ?? (body["columns"] != nil ? body : nil) {
            guard case .array(let nameValues) = split["columns"] ?? .null,
                let names = Optional(
                    nameValues.compactMap { v -> String? in
                        if case .string(let s) = v { return s }
                        return nil
                    }),
                names.count == nameValues.count
            else {
                throw RequestError("\"columns\" must be a list of column names", field: "columns")
            }
            guard case .array(let rows) = split["data"] ?? .null else {
                throw RequestError("\"data\" must be a list of rows (lists of values)", field: "data")
            }
            var cells = [[JSONValue?]](repeating: [JSONValue?](repeating: nil, count: rows.count), count: names.count)
            for (r, row) in rows.enumerated() {
                guard case .array(let values) = row else {
                    throw RequestError("\"data\" must be a list of rows (lists of values)", field: "data", row: r)
                }
                guard values.count == names.count else {
                    throw RequestError(
                        "row \(r) has \(values.count) values for \(names.count) columns", field: "data", row: r)
                }
                for (c, v) in values.enumerated() { cells[c][r] = v }
            }
            return Cells(names: names, cells: cells, rowCount: rows.count)
        }
        throw RequestError("give rows as {\"records\": [{…}]} or {\"columns\": […], \"data\": [[…]]}")
    }

    /// Rows from one list of values per column (all the same length).
    public static func columns(_ columnar: [(String, JSONValue)]) throws -> Cells {
        var names = [String]()
        var cells = [[JSONValue?]]()
        var n: Int?
        for (k, v) in columnar {
            guard case .array(let values) = v else {
                throw RequestError("column \(k) must be a list of values", field: k)
            }
            if let n, values.count != n {
                throw RequestError("column \(k) has \(values.count) values, others \(n)", field: k)
            }
            n = values.count
            names.append(k)
            cells.append(values.map { Optional($0) })
        }
        return Cells(names: names, cells: cells, rowCount: n ?? 0)
    }

    /// Checks each value against the input schema and builds the table: an unknown column, a missing required one,
    /// a wrong type or a non-finite number is a 400 naming the field and the row.
    public static func table(_ rows: Cells, bundle: ModelBundle) throws -> Table {
        try table(rows, plan: RequestPlan(bundle))
    }

    /// `table(_:bundle:)` with the bundle's request plan worked out before (the server keeps one per bundle).
    public static func table(_ rows: Cells, plan: RequestPlan) throws -> Table {
        guard rows.rowCount > 0 else { throw RequestError("no rows to predict", field: "records") }
        let accepted = plan.accepted
        // Each accepted column's cells, by its place in the plan: one look-up per name the request gives.
        var given = [Int?](repeating: nil, count: accepted.count)
        // The first row (then the first name) that holds an unknown column.
        var unknown: (row: Int, name: String)?
        for (c, name) in rows.names.enumerated() {
            if let p = plan.position[name] {
                if given[p] == nil { given[p] = c }
                continue
            }
            guard !plan.known.contains(name), let r = rows.cells[c].firstIndex(where: { $0 != nil }) else { continue }
            if unknown == nil || r < unknown!.row || (r == unknown!.row && name < unknown!.name) { unknown = (r, name) }
        }
        if let unknown {
            throw RequestError(
                "unknown column '\(unknown.name)' (the model reads: \(accepted.map(\.name).joined(separator: ", ")))",
                field: unknown.name, row: unknown.row)
        }
        var columns = [Column]()
        columns.reserveCapacity(accepted.count)
        for (p, spec) in accepted.enumerated() {
            let cells = given[p].map { rows.cells[$0] }
            if plan.mustName[p] {
                // Every row names every column the model reads (null for a missing value).
                if let r = cells.map({ $0.firstIndex { $0 == nil } }) ?? 0 {
                    throw RequestError(
                        "missing column '\(spec.name)' (send null for a missing value)", field: spec.name, row: r)
                }
            }
            guard let cells, cells.contains(where: { $0 != nil }) else { continue }
            do { columns.append(try column(cells, spec: spec)) } catch let e as RequestError { throw e } catch {
                throw RequestError("column '\(spec.name)': \(error.localizedDescription)", field: spec.name)
            }
        }
        do { return try Table(columns: columns) } catch { throw RequestError(error.localizedDescription) }
    }

    /// One column of the schema's type from JSON cells (absent and null cells are missing values).
    static func column(_ cells: [JSONValue?], spec: FittedPipeline.ColumnSpec) throws -> Column {
        let field = spec.name
        func wrong(_ v: JSONValue, _ r: Int, _ expected: String) -> RequestError {
            RequestError("'\(field)' must be \(expected), got \(v.described)", field: field, row: r)
        }
        // Made at the first missing value: most columns have none.
        var valid: [Bool]?
        func missing(_ r: Int) {
            if valid == nil { valid = [Bool](repeating: true, count: cells.count) }
            valid![r] = false
        }
        switch spec.type {
        case .float64, .int64:
            let isInt = spec.type == .int64
            var doubles = [Double](repeating: 0, count: isInt ? 0 : cells.count)
            var ints = [Int64](repeating: 0, count: isInt ? cells.count : 0)
            for (r, cell) in cells.enumerated() {
                switch cell ?? .null {
                case .null: missing(r)
                case .number(let d):
                    guard d.isFinite else {
                        throw RequestError("'\(field)' must be a finite number", field: field, row: r)
                    }
                    if isInt {
                        guard d.rounded() == d, abs(d) <= 9e15 else { throw wrong(cell!, r, "a whole number") }
                        ints[r] = Int64(d)
                    } else {
                        doubles[r] = d
                    }
                case let v: throw wrong(v, r, "a number")
                }
            }
            return isInt
                ? Column(name: field, storage: .int64(ints), validity: valid)
                : Column(name: field, storage: .float64(doubles), validity: valid)
        case .bool:
            var values = [Bool](repeating: false, count: cells.count)
            for (r, cell) in cells.enumerated() {
                switch cell ?? .null {
                case .null: missing(r)
                case .bool(let b): values[r] = b
                case let v: throw wrong(v, r, "true or false")
                }
            }
            return Column(name: field, storage: .bool(values), validity: valid)
        case .string:
            var values = [String?](repeating: nil, count: cells.count)
            for (r, cell) in cells.enumerated() {
                switch cell ?? .null {
                case .null: continue
                case .string(let s): values[r] = s
                case let v: throw wrong(v, r, "text")
                }
            }
            return Column(name: field, strings: values)
        case .date, .timestamp:
            var values = [Int64](repeating: 0, count: cells.count)
            for (r, cell) in cells.enumerated() {
                switch cell ?? .null {
                case .null: missing(r)
                case .string(let s):
                    let parsed = FieldParsing.withBytes(s) { p, n in
                        spec.type == .date ? FieldParsing.parseDate(p, n) : FieldParsing.parseTimestamp(p, n)
                    }
                    guard let v = parsed else { throw wrong(cell!, r, "a date (yyyy-MM-dd or MM/dd/yyyy)") }
                    values[r] = v
                case let v: throw wrong(v, r, "a date as text (yyyy-MM-dd)")
                }
            }
            return spec.type == .date
                ? Column(name: field, storage: .date(values), validity: valid)
                : Column(name: field, storage: .timestamp(values), validity: valid)
        }
    }

    /// Rows from a CSV body (header first, UTF-8), read as the bundle's schema types.
    public static func table(fromCSV body: [UInt8], bundle: ModelBundle) throws -> Table {
        do {
            // Read once for the header, then again with the schema's types for the columns that are there.
            let names = Set(try CSVReader.read(bytes: body, name: "request body").columnNames)
            var options = CSVOptions()
            for c in bundle.acceptedColumns where names.contains(c.name) { options.columnTypes[c.name] = c.type }
            return try CSVReader.read(bytes: body, name: "request body", options: options)
        } catch {
            throw RequestError(error.localizedDescription)
        }
    }
}
