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
        var o: [String: Any] = ["error": message]
        if let field { o["field"] = field }
        if let row { o["row"] = row }
        return (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data("{\"error\":\"bad request\"}".utf8)
    }
}

/// Turns request rows into a table of the bundle's input schema, checking every value.
public enum RowDecoder {
    /// Rows from `{"records": [{col: value, …}]}` or `{"columns": [...], "data": [[...]]}` (also MLflow's
    /// `dataframe_records` / `dataframe_split`, `instances` and `inputs`).
    public static func rows(fromJSON data: Data, strict: Bool = false) throws -> [[String: Any]] {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw RequestError("the body is not valid JSON: \((error as NSError).localizedDescription)")
        }
        guard let body = object as? [String: Any] else { throw RequestError("the body must be a JSON object with \"records\" or \"columns\" and \"data\"") }
        if strict, let extra = body.keys.sorted().first(where: { !["records", "columns", "data"].contains($0) }) {
            throw RequestError("unknown field '\(extra)'; the body holds \"records\", or \"columns\" and \"data\"", field: extra)
        }
        if let records = body["records"] ?? body["dataframe_records"] ?? body["instances"] ?? body["inputs"] {
            if let list = records as? [[String: Any]] { return list }
            if let columnar = records as? [String: [Any]] { return try columns(Array(columnar.keys), columnar) }
            throw RequestError("\"records\" must be a list of objects, one per row", field: "records")
        }
        if let split = (body["dataframe_split"] as? [String: Any]) ?? (body["columns"] != nil ? body : nil) {
            guard let names = split["columns"] as? [String] else { throw RequestError("\"columns\" must be a list of column names", field: "columns") }
            guard let rows = split["data"] as? [[Any]] else { throw RequestError("\"data\" must be a list of rows (lists of values)", field: "data") }
            return try rows.enumerated().map { i, row in
                guard row.count == names.count else {
                    throw RequestError("row \(i) has \(row.count) values for \(names.count) columns", field: "data", row: i)
                }
                return Dictionary(uniqueKeysWithValues: zip(names, row))
            }
        }
        throw RequestError("give rows as {\"records\": [{…}]} or {\"columns\": […], \"data\": [[…]]}")
    }

    static func columns(_ names: [String], _ columnar: [String: [Any]]) throws -> [[String: Any]] {
        let n = columnar.values.first?.count ?? 0
        for (k, v) in columnar where v.count != n { throw RequestError("column \(k) has \(v.count) values, others \(n)", field: k) }
        return (0..<n).map { i in Dictionary(uniqueKeysWithValues: names.map { ($0, columnar[$0]![i]) }) }
    }

    /// Rows from CSV text (header first), read as the bundle's schema types.
    public static func table(fromCSV text: String, bundle: ModelBundle) throws -> Table {
        do {
            // Read once for the header, then again with the schema's types for the columns that are there.
            let names = Set(try CSVReader.read(string: text, name: "request body").columnNames)
            var options = CSVOptions()
            for c in bundle.inputSchema where names.contains(c.name) { options.columnTypes[c.name] = c.type }
            return try CSVReader.read(string: text, name: "request body", options: options)
        } catch {
            throw RequestError(error.localizedDescription)
        }
    }

    /// Checks each value against the input schema and builds the table: an unknown column, a missing required one,
    /// a wrong type or a non-finite number is a 400 naming the field and the row.
    public static func table(_ rows: [[String: Any]], bundle: ModelBundle) throws -> Table {
        guard !rows.isEmpty else { throw RequestError("no rows to predict", field: "records") }
        let known = Set(bundle.inputSchema.map(\.name) + [bundle.target])
        for (i, row) in rows.enumerated() {
            if let unknown = row.keys.sorted().first(where: { !known.contains($0) }) {
                throw RequestError("unknown column '\(unknown)' (the model reads: \(bundle.inputSchema.map(\.name).joined(separator: ", ")))", field: unknown, row: i)
            }
        }
        var columns = [Column]()
        for spec in bundle.inputSchema {
            let needed = bundle.pipelineNeeds(spec.name)
            if needed, let r = rows.firstIndex(where: { $0[spec.name] == nil }) {
                // Every row names every column the model reads (null for a missing value).
                throw RequestError("missing column '\(spec.name)' (send null for a missing value)", field: spec.name, row: r)
            }
            if !rows.contains(where: { $0[spec.name] != nil }) { continue }
            var values = [Value]()
            values.reserveCapacity(rows.count)
            for (i, row) in rows.enumerated() {
                values.append(try value(row[spec.name], type: spec.type, field: spec.name, row: i))
            }
            do { columns.append(try Column(name: spec.name, type: spec.type, values: values)) } catch {
                throw RequestError("column '\(spec.name)': \(error.localizedDescription)", field: spec.name)
            }
        }
        do { return try Table(columns: columns) } catch { throw RequestError(error.localizedDescription) }
    }

    static func value(_ raw: Any?, type: DataType, field: String, row: Int) throws -> Value {
        guard let raw, !(raw is NSNull) else { return .missing }
        func wrong(_ expected: String) -> RequestError {
            RequestError("'\(field)' must be \(expected), got \(describe(raw))", field: field, row: row)
        }
        switch type {
        case .float64, .int64:
            guard let n = raw as? NSNumber, !isBool(n) else { throw wrong("a number") }
            let d = n.doubleValue
            guard d.isFinite else { throw RequestError("'\(field)' must be a finite number", field: field, row: row) }
            if type == .int64 {
                guard d.rounded() == d, abs(d) <= 9e15 else { throw wrong("a whole number") }
                return .int64(Int64(d))
            }
            return .float64(d)
        case .bool:
            guard let n = raw as? NSNumber, isBool(n) else { throw wrong("true or false") }
            return .bool(n.boolValue)
        case .string:
            if let s = raw as? String { return .string(s) }
            throw wrong("text")
        case .date, .timestamp:
            guard let s = raw as? String else { throw wrong("a date as text (yyyy-MM-dd)") }
            let parsed = FieldParsing.withBytes(s) { p, n in type == .date ? FieldParsing.parseDate(p, n) : FieldParsing.parseTimestamp(p, n) }
            guard let v = parsed else { throw wrong("a date (yyyy-MM-dd or MM/dd/yyyy)") }
            return type == .date ? .date(v) : .timestamp(v)
        }
    }

    /// JSON's true and false arrive as NSNumbers of type char ("c"); numbers never do.
    static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    static func describe(_ v: Any) -> String {
        if let s = v as? String { return "\"\(s.prefix(40))\"" }
        if let n = v as? NSNumber { return isBool(n) ? (n.boolValue ? "true" : "false") : n.stringValue }
        if v is [Any] { return "a list" }
        if v is [String: Any] { return "an object" }
        return "\(v)"
    }
}
