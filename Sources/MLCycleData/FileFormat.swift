import Foundation

/// The `format` name and `version` every mlcycle JSON file (model, fitted pipeline, bundle) carries, checked
/// before the rest is decoded so that another file, a newer one or a damaged one is a clear error.
public struct FileFormat: Decodable, Sendable {
    public var format: String?
    public var version: Int?

    /// The header of a JSON document, or nil when it is not a JSON object.
    public static func header(of data: Data) -> FileFormat? { try? JSONDecoder().decode(FileFormat.self, from: data) }

    /// Why `data` is not a `what` (format `name`, version 1 to `newest`), in words for the user; nil when it is one.
    /// `header` is its header when the caller has read it already.
    public static func problem(
        _ data: Data, header: FileFormat? = nil, name: String, what: String, newest: Int
    ) -> String? {
        guard let header = header ?? Self.header(of: data) else { return "not a \(what) (not JSON, or damaged)" }
        return header.problem(name: name, what: what, newest: newest)
    }

    /// Why this header is not a `what` (format `name`, version 1 to `newest`); nil when it is one.
    public func problem(name: String, what: String, newest: Int) -> String? {
        guard format == name else { return "not an mlcycle \(what) (format is '\(format ?? "missing")')" }
        guard let version, version >= 1, version <= newest else {
            return "\(what) format version \(version.map(String.init) ?? "missing") is newer than this mlcycle reads "
                + "(\(newest)); upgrade mlcycle"
        }
        return nil
    }
}
