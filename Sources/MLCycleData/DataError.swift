import Foundation

/// Errors of the data layer; each message says what is wrong and where, so a user can fix the input.
public enum DataError: LocalizedError, Equatable, Sendable {
    case fileNotFound(path: String)
    case unreadableFile(path: String, reason: String)
    case emptyFile(path: String)
    case unwritableFile(path: String, reason: String)
    case unterminatedQuote(file: String, line: Int, column: Int, columnName: String?)
    case unexpectedCharacterAfterQuote(file: String, line: Int, column: Int, columnName: String?, character: String)
    case raggedRow(file: String, line: Int, expected: Int, found: Int)
    case invalidValue(file: String, line: Int, column: Int, columnName: String, value: String, expected: DataType)
    case invalidJSON(file: String, line: Int, reason: String)
    case invalidEncoding(file: String, line: Int, column: Int, columnName: String?, byte: UInt8)
    /// A text file that must be UTF-8 (a YAML file) has a byte that is not; `column` counts bytes from 1.
    case notUTF8Text(file: String, line: Int, column: Int, byte: UInt8)
    case columnNotFound(name: String, available: [String])
    case duplicateColumn(name: String)
    case lengthMismatch(column: String, expected: Int, found: Int)
    case typeMismatch(column: String, expected: DataType, found: String)
    case schemaMismatch(reason: String)
    case invalidArgument(String)

    public var errorDescription: String? {
        switch self {
        case .fileNotFound(let path):
            return "\(path): no such file"
        case .unreadableFile(let path, let reason):
            return "\(path): cannot read the file (\(reason))"
        case .unwritableFile(let path, let reason):
            return "\(path): cannot write the file (\(reason)); check that the folder exists and is writable"
        case .emptyFile(let path):
            return "\(path): the file is empty; a CSV file needs at least a header row"
        case .unterminatedQuote(let file, let line, let column, let name):
            return
                "\(file):\(line): column \(column)\(Self.named(name)): a quoted field is never closed; add the closing '\"' (write a quote inside a quoted field as '\"\"')"
        case .unexpectedCharacterAfterQuote(let file, let line, let column, let name, let character):
            return
                "\(file):\(line): column \(column)\(Self.named(name)): unexpected '\(character)' after a closing quote; a quoted field must end at a delimiter or the end of the line (write a quote inside a quoted field as '\"\"')"
        case .raggedRow(let file, let line, let expected, let found):
            return
                "\(file):\(line): the row has \(found) field\(found == 1 ? "" : "s") where the header has \(expected); check for a missing or extra delimiter, or quote fields that contain one"
        case .invalidValue(let file, let line, let column, let name, let value, let expected):
            let shown = value.count > 60 ? String(value.prefix(60)) + "…" : value
            return
                "\(file):\(line): column \(column) (\(name)): '\(shown)' is not a valid \(expected); fix the value or read the column as another type"
        case .invalidEncoding(let file, let line, let column, let name, let byte):
            return
                "\(file):\(line): column \(column)\(Self.named(name)): byte 0x\(String(byte, radix: 16, uppercase: true)) is not UTF-8; save the file as UTF-8, or read it with --encoding latin1 if it is Latin-1"
        case .notUTF8Text(let file, let line, let column, let byte):
            return
                "\(file):\(line):\(column): byte 0x\(String(byte, radix: 16, uppercase: true)) is not UTF-8; save the file as UTF-8"
        case .invalidJSON(let file, let line, let reason):
            return "\(file):\(line): \(reason)"
        case .columnNotFound(let name, let available):
            let near = available.filter {
                $0.lowercased() == name.lowercased() || $0.lowercased().contains(name.lowercased())
            }
            let hint =
                near.isEmpty
                ? "columns are: \(available.prefix(20).joined(separator: ", "))\(available.count > 20 ? ", …" : "")"
                : "did you mean \(near.prefix(3).joined(separator: ", "))?"
            return "no column named '\(name)'; \(hint)"
        case .duplicateColumn(let name):
            return "the column name '\(name)' is used twice; column names must be unique"
        case .lengthMismatch(let column, let expected, let found):
            return "column '\(column)' has \(found) rows where the table has \(expected)"
        case .typeMismatch(let column, let expected, let found):
            return "column '\(column)': expected \(expected) values, found '\(found)'"
        case .schemaMismatch(let reason):
            return reason
        case .invalidArgument(let reason):
            return reason
        }
    }

    private static func named(_ name: String?) -> String {
        guard let name else { return "" }
        return " (\(name))"
    }
}
