import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleStore

/// A model a command names: a model file (`mlcycle train --out`), a bundle file, or a registered model.
public enum SavedModel {
    case file(ModelFile)
    /// `scoredBy`: `NAME vN` for a registered model, nil for a file.
    case bundle(ModelBundle, scoredBy: String?)

    /// `reference` is a model file, a bundle file, or a registered model NAME[@ALIAS|:VERSION] in the store `store`
    /// opens (only asked for when `reference` is not a file). A damaged file is its own error.
    public static func load(_ reference: String, store: () async throws -> any Store) async throws -> SavedModel {
        if let data = FileManager.default.contents(atPath: reference) {
            if let header = FileFormat.header(of: data), header.format == ModelBundle.formatName {
                return .bundle(try ModelBundle.decode(data, path: reference, header: header), scoredBy: nil)
            }
            return .file(try ModelFile.decode(data, path: reference))
        }
        let store = try await store()
        let version = try await ModelRegistry(store: store).resolve(reference)
        let name = "\(version.name) v\(version.version)"
        return .bundle(try ModelBundle.decode(try await store.artifact(version.bundle), path: name), scoredBy: name)
    }

    /// The fitted model, without its preparation.
    public var modelFile: ModelFile {
        switch self {
        case .file(let file): return file
        case .bundle(let bundle, _): return bundle.model
        }
    }
}
