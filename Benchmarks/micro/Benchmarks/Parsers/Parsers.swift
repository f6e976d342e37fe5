// MLCycleData's hand-written hot paths against what they stand in for, on the same input in one process:
//   CSV      mlcycle's reader (typed columns) vs SwiftCSV and CSV.swift (text fields only)
//   sort     RadixSort.argsort vs the standard library's sort of the indices by key
//   JSON in  JSONValue.parse vs JSONSerialization and JSONDecoder on a 1000-row predict request
//   JSON out JSONWriter vs JSONEncoder on a 1000-row predict answer
// Names are "AREA: side (input)" so run.sh can pair them.
import Benchmark
import Foundation
import MLCycleData
import SwiftCSV

/// The bundled example's folder, from the checkout's root (run.sh) or from Benchmarks/micro.
let data =
    ["examples/house-prices", "../../examples/house-prices"].first {
        FileManager.default.fileExists(atPath: "\($0)/ames.csv")
    } ?? "examples/house-prices"
/// Files and their labels (no underscores: the JMH export writes spaces as underscores). Large files are the
/// profile benchmark's business (against pandas): here the text-only readers would take seconds per run.
let csvFiles = [("ames.csv", "ames.csv")]

/// Sums a field count so that the optimiser cannot drop a parse.
@inline(never) func consume(_ n: Int) { blackHole(n) }

/// A cell of the predict request for JSONDecoder (what a typed Codable server would decode).
enum Cell: Decodable {
    case number(Double)
    case text(String)
    case flag(Bool)
    case missing
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .missing
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let b = try? c.decode(Bool.self) {
            self = .flag(b)
        } else {
            self = .text(try c.decode(String.self))
        }
    }
}
struct PredictBody: Decodable { var records: [[String: Cell]] }
struct Prediction: Encodable {
    var id: String
    var prediction: Double
    var range: [Double]
    var model_version: String
    var status: String
}
struct PredictAnswer: Encodable {
    var model: String
    var model_version: String
    var predictions: [Prediction]
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput], warmupIterations: 1, maxDuration: .seconds(4), maxIterations: 40)

    for (name, file) in csvFiles {
        let path = "\(data)/\(name)"
        guard FileManager.default.fileExists(atPath: path) else { continue }
        Benchmark("CSV: mlcycle, 1 thread (\(file))") { _ in
            var options = CSVOptions()
            options.threads = 1
            consume(try CSVReader.read(path: path, options: options).rowCount)
        }
        Benchmark("CSV: mlcycle, all cores (\(file))") { _ in
            consume(try CSVReader.read(path: path).rowCount)
        }
        Benchmark("CSV: SwiftCSV (\(file))") { _ in
            let csv = try EnumeratedCSV(url: URL(fileURLWithPath: path), delimiter: .comma, loadColumns: false)
            consume(csv.rows.count)
        }
        Benchmark("CSV: CSV.swift (\(file))") { _ in
            guard let stream = InputStream(fileAtPath: path) else { return }
            let reader = try CSVSwiftReader(stream: stream, hasHeaderRow: true)
            var rows = 0
            while reader.next() != nil { rows += 1 }
            consume(rows)
        }
    }

    // One million doubles with ties and negatives, as a numeric column the profiler sorts.
    var rng = SeededGenerator(seed: 7)
    let values = (0..<1_000_000).map { _ in (Double(Int.random(in: -50_000...50_000, using: &rng)) / 7).rounded() }
    let keys = values.map(RadixSort.key)
    Benchmark("sort: mlcycle radix argsort (1M doubles)") { _ in
        consume(RadixSort.argsort(keys).count)
    }
    Benchmark("sort: stdlib sort of indices (1M doubles)") { _ in
        let order = keys.withUnsafeBufferPointer { (k: UnsafeBufferPointer<UInt64>) -> [Int32] in
            // Stable like the radix sort: ties keep row order.
            Array(Int32(0)..<Int32(k.count)).sorted { (a: Int32, b: Int32) -> Bool in
                let (x, y) = (k[Int(a)], k[Int(b)])
                return x < y || (x == y && a < b)
            }
        }
        consume(order.count)
    }

    // A 1000-row predict request shaped like the house-price model's input, and its answer.
    var body = JSONWriter(capacity: 1 << 20)
    body.raw("{\"records\":[")
    for r in 0..<1000 {
        if r > 0 { body.comma() }
        body.raw("{")
        body.key("Gr_Liv_Area")
        body.number(Double(800 + r))
        body.comma()
        body.key("Overall_Qual")
        body.string(["Average", "Good", "Very_Good"][r % 3])
        body.comma()
        body.key("Year_Built")
        body.number(Double(1950 + r % 60))
        body.comma()
        body.key("Lot_Area")
        body.number(r % 17 == 0 ? .nan : Double(5000 + 13 * r))
        body.comma()
        body.key("Neighborhood")
        body.string(["North_Ames", "College_Creek", "Old_Town", "Edwards"][r % 4])
        body.comma()
        body.key("Central_Air")
        body.bool(r % 5 != 0)
        body.raw("}")
    }
    body.raw("]}")
    let request = body.data
    Benchmark("JSON in: mlcycle JSONValue.parse (1000-row request)") { _ in
        consume(try JSONValue.parse(request)["records"].map { if case .array(let a) = $0 { a.count } else { 0 } } ?? 0)
    }
    Benchmark("JSON in: JSONSerialization (1000-row request)") { _ in
        let any = try JSONSerialization.jsonObject(with: request) as? [String: Any]
        consume((any?["records"] as? [Any])?.count ?? 0)
    }
    Benchmark("JSON in: JSONDecoder, typed (1000-row request)") { _ in
        consume(try JSONDecoder().decode(PredictBody.self, from: request).records.count)
    }

    let predictions = (0..<1000).map { r in
        Prediction(
            id: "p-\(r)-6f1c2b", prediction: 180_000 + Double(r) * 37.5,
            range: [160_000 + Double(r), 200_000 + Double(r)],
            model_version: "v7", status: "ok")
    }
    Benchmark("JSON out: mlcycle JSONWriter (1000-row answer)") { _ in
        var j = JSONWriter(capacity: 64 + 160 * predictions.count)
        j.raw("{\"model\":\"house-prices\",\"model_version\":\"v7\",\"predictions\":[")
        for (i, p) in predictions.enumerated() {
            if i > 0 { j.comma() }
            j.raw("{\"id\":")
            j.string(p.id)
            j.raw(",\"prediction\":")
            j.number(p.prediction)
            j.raw(",\"range\":[")
            j.number(p.range[0])
            j.comma()
            j.number(p.range[1])
            j.raw("],\"model_version\":")
            j.string(p.model_version)
            j.raw(",\"status\":")
            j.string(p.status)
            j.raw("}")
        }
        j.raw("]}")
        consume(j.bytes.count)
    }
    Benchmark("JSON out: JSONEncoder (1000-row answer)") { _ in
        let answer = PredictAnswer(model: "house-prices", model_version: "v7", predictions: predictions)
        consume(try JSONEncoder().encode(answer).count)
    }
}
