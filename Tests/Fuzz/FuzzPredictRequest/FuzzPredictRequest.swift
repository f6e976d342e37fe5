import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleProject
import MLCycleServe
import MLCycleStore

/// The model requests are decoded for: `mlcycle init`'s regression template, trained once when the fuzzer starts
/// (the store is async; this one-time start waits for it).
let bundle: ModelBundle = {
    let executor = DedicatedThreadExecutor(name: "fuzz-start")
    defer { executor.shutdown() }
    do { return try executor.wait { try await trainTemplate() } } catch {
        fatalError("could not train the template's model: \(error)")
    }
}()

func trainTemplate() async throws -> ModelBundle {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-fuzz-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try ProjectTemplate.regression.write(to: dir)
    let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
    _ = try await Runner(spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store).run()
    let catalog = ModelCatalog(store: store, models: [:])
    guard let name = try await catalog.names().first, let served = try await catalog.resolve(name) else {
        fatalError("the template's model was not registered in \(dir)")
    }
    return served.bundle
}

/// libFuzzer's entry point: the bytes after the first are a predict request body, JSON (any of the shapes the server
/// takes) or CSV as the first byte says, decoded against the model's input schema and scored. A `RequestError` is a
/// pass (it becomes the 4xx that says what to fix); a trap or a sanitizer report is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzPredictRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let table: Table
    do {
        table =
            data[0] & 1 == 0
            ? try RowDecoder.table(RowDecoder.cells(fromJSON: Data(body), strict: data[0] & 2 == 0), bundle: bundle)
            : try RowDecoder.table(fromCSV: body, bundle: bundle)
    } catch is RequestError {
        return 0
    } catch {
        fatalError("the decoder threw something other than a RequestError: \(error)")
    }
    // Scoring may still refuse the rows (the server answers that 400 with the error's message).
    _ = try? bundle.score(table)
    return 0
}
