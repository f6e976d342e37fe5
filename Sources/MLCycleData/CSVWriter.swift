import Foundation

/// Writes a `Table` as RFC 4180 CSV that `CSVReader` reads back to the same values and types.
///
/// Missing values are written as empty unquoted fields; a string that is empty, equals a missing-value token,
/// has leading or trailing spaces, or contains the delimiter, a quote or a line break is quoted.
public enum CSVWriter {
    /// The CSV text of a table.
    public static func string(
        _ table: Table, delimiter: Character = ",", missingTokens: [String] = CSVOptions.defaultMissingTokens
    ) -> String {
        var out = [UInt8]()
        write(table, into: &out, delimiter: delimiter, missingTokens: missingTokens)
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes a table to a file atomically (a temporary file renamed over the target).
    public static func write(
        _ table: Table, to path: String, delimiter: Character = ",",
        missingTokens: [String] = CSVOptions.defaultMissingTokens
    ) throws {
        var out = [UInt8]()
        out.reserveCapacity(table.rowCount * table.columnCount * 8)
        write(table, into: &out, delimiter: delimiter, missingTokens: missingTokens)
        try AtomicFile.write(Data(out), to: path)
    }

    /// The CSV bytes of a table, with or without the header line (later blocks of a streamed file go without).
    public static func bytes(
        _ table: Table, header: Bool = true, delimiter: Character = ",",
        missingTokens: [String] = CSVOptions.defaultMissingTokens
    ) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(table.rowCount * table.columnCount * 8)
        write(table, into: &out, delimiter: delimiter, missingTokens: missingTokens, header: header)
        return out
    }

    static func write(
        _ table: Table, into out: inout [UInt8], delimiter: Character, missingTokens: [String], header: Bool = true
    ) {
        let d = delimiter.asciiValue ?? 44
        let tokens = Set(missingTokens)
        func needsQuotes(_ s: String) -> Bool {
            if tokens.contains(s) || s.isEmpty { return true }
            if s.first == " " || s.last == " " || s.first == "\t" || s.last == "\t" { return true }
            for b in s.utf8 where b == d || b == 34 || b == 10 || b == 13 { return true }
            return false
        }
        func appendField(_ s: String, quote: Bool, to out: inout [UInt8]) {
            if quote {
                out.append(34)
                for b in s.utf8 {
                    if b == 34 { out.append(34) }
                    out.append(b)
                }
                out.append(34)
            } else {
                out.append(contentsOf: s.utf8)
            }
        }
        if header {
            for (i, c) in table.columns.enumerated() {
                if i > 0 { out.append(d) }
                appendField(c.name, quote: needsQuotes(c.name), to: &out)
            }
            out.append(10)
        }
        // Per column: a function that appends row r's text.
        let writers: [(Int, inout [UInt8]) -> Void] = table.columns.map { col in
            let valid = col.validity
            switch col.storage {
            case .float64(let v):
                return { r, out in if valid?[r] ?? true { out.append(contentsOf: formatDouble(v[r]).utf8) } }
            case .int64(let v): return { r, out in if valid?[r] ?? true { out.append(contentsOf: String(v[r]).utf8) } }
            case .bool(let v):
                return { r, out in if valid?[r] ?? true { out.append(contentsOf: (v[r] ? "true" : "false").utf8) } }
            case .date(let v):
                return { r, out in
                    if valid?[r] ?? true { out.append(contentsOf: CalendarDate.isoString(days: v[r]).utf8) }
                }
            case .timestamp(let v):
                return { r, out in
                    if valid?[r] ?? true { out.append(contentsOf: CalendarDate.isoString(microseconds: v[r]).utf8) }
                }
            case .string(let codes, let dict):
                let quoted = dict.map(needsQuotes)
                return { r, out in
                    guard valid?[r] ?? true else { return }
                    let code = Int(codes[r])
                    appendField(dict[code], quote: quoted[code], to: &out)
                }
            }
        }
        for r in 0..<table.rowCount {
            for (i, w) in writers.enumerated() {
                if i > 0 { out.append(d) }
                w(r, &out)
            }
            out.append(10)
        }
    }
}

/// Writes files atomically: a temporary file in the same folder, then a rename over the target.
///
/// A target that exists and is not a regular file (`/dev/null`, `/dev/stdout`, a named pipe) is written in place:
/// renaming over a device would replace it with a plain file.
public enum AtomicFile {
    /// Writes `data` to a temporary file beside `path` (`.NAME.PID.UUID.tmp`), then renames it over `path`: a reader
    /// sees the old file or the new one, never half of one. A process killed mid-write leaves its temporary file,
    /// which `orphans(in:)` finds by the dead process id.
    public static func write(_ data: Data, to path: String) throws {
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw DataError.unwritableFile(path: path, reason: "cannot open it for writing")
            }
            defer { try? handle.close() }
            do { try handle.write(contentsOf: data) } catch {
                throw DataError.unwritableFile(path: path, reason: error.localizedDescription)
            }
            return
        }
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(
            ".\(url.lastPathComponent).\(getpid()).\(UUID().uuidString).tmp")
        do {
            try data.write(to: temporary)
            if rename(temporary.path, url.path) != 0 {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: temporary)
                throw DataError.unwritableFile(path: path, reason: reason)
            }
        } catch let e as DataError {
            throw e
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw DataError.unwritableFile(path: path, reason: error.localizedDescription)
        }
    }

    /// The temporary files under `folder` (at any depth) left by writes whose process is gone: safe to remove, as no
    /// rename will ever come for them. Files of processes still running are not listed.
    public static func orphans(in folder: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var out = [String]()
        for case let relative as String in walker {
            let name = (relative as NSString).lastPathComponent
            guard name.hasPrefix("."), name.hasSuffix(".tmp") else { continue }
            let parts = name.split(separator: ".")
            // ., NAME parts…, PID, UUID, tmp: the process id is the third part from the end.
            guard parts.count >= 4, let pid = Int32(parts[parts.count - 3]) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno != EPERM {
                out.append((folder as NSString).appendingPathComponent(relative))
            }
        }
        return out
    }
}

/// A file written piece by piece that appears whole or not at all: pieces go to a temporary file in the same
/// folder, renamed over the target by `commit()`; dropped without `commit()`, the temporary file is removed.
/// A target that is not a regular file (`/dev/stdout`, a pipe) is written in place, as `AtomicFile` does.
public final class AtomicFileWriter {
    private let handle: FileHandle
    private let path: String
    private let temporary: String?

    public init(path: String) throws {
        self.path = path
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
            temporary = nil
        } else {
            let url = URL(fileURLWithPath: path)
            let t = url.deletingLastPathComponent().appendingPathComponent(
                ".\(url.lastPathComponent).\(UUID().uuidString).tmp"
            ).path
            guard FileManager.default.createFile(atPath: t, contents: nil) else {
                throw DataError.unwritableFile(path: path, reason: "cannot create a file in its folder")
            }
            temporary = t
        }
        guard let h = FileHandle(forWritingAtPath: temporary ?? path) else {
            if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
            throw DataError.unwritableFile(path: path, reason: "cannot open it for writing")
        }
        handle = h
    }

    /// Appends bytes.
    public func write(_ bytes: [UInt8]) throws {
        do { try handle.write(contentsOf: bytes) } catch {
            throw DataError.unwritableFile(path: path, reason: error.localizedDescription)
        }
    }

    /// Closes the file and moves it into place.
    public func commit() throws {
        try? handle.synchronize()
        try? handle.close()
        guard let temporary else { return }
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw DataError.unwritableFile(path: path, reason: reason)
        }
        committed = true
    }

    private var committed = false

    deinit {
        if !committed, let temporary {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: temporary)
        }
    }
}
