import Foundation
import MLCycleData

/// k-means clustering as scikit-learn's `KMeans`: greedy k-means++ initialisation, Lloyd iterations until the
/// centres move less than `tol` (relative to the mean feature variance), the best of `n_init` restarts by inertia.
/// Features are the linear models' design columns (numbers, one-hot categories, missing → training mean).
@dynamicMemberLookup
public struct KMeans: Learner {
    public var parameters: Parameters

    /// The hyperparameters (scikit-learn's names).
    public struct Parameters: Codable, Sendable, Equatable {
        public var clusters = 8
        public var restarts = 1
        public var maxIterations = 300
        public var tolerance = 1e-4
        public var seed: UInt64 = 0

        public init() {}

        /// From `NAME=VALUE` text.
        public init(_ text: [String: String]) throws {
            self = try Hyperparameters.parse(
                text, into: Parameters(),
                table: [
                    .whole("n_clusters", aliases: ["k"], \.clusters, expected: "a whole number ≥ 1") { $0 >= 1 },
                    .whole("n_init", \.restarts, expected: "a whole number ≥ 1") { $0 >= 1 },
                    .whole("max_iter", \.maxIterations, expected: "a whole number ≥ 1") { $0 >= 1 },
                    .number("tol", \.tolerance, expected: "a number ≥ 0") { $0 >= 0 },
                    .seed(\.seed),
                ])
        }
    }

    /// A hyperparameter by its Swift name (`kmeans.clusters`).
    public subscript<T>(dynamicMember name: WritableKeyPath<Parameters, T>) -> T {
        get { parameters[keyPath: name] }
        set { parameters[keyPath: name] = newValue }
    }

    public init(
        clusters: Int = Parameters().clusters, restarts: Int = Parameters().restarts,
        maxIterations: Int = Parameters().maxIterations, tolerance: Double = Parameters().tolerance,
        seed: UInt64 = Parameters().seed
    ) {
        parameters = Parameters()
        (parameters.clusters, parameters.restarts, parameters.maxIterations, parameters.tolerance, parameters.seed) =
            (clusters, restarts, maxIterations, tolerance, seed)
    }

    public init(parameters: Parameters) { self.parameters = parameters }

    public init(parameters: [String: String]) throws { self.init(parameters: try Parameters(parameters)) }

    /// Clusters every row; the target, if any, is not used.
    public func fit(_ training: TrainingSet) throws -> KMeansModel {
        try fit(schema: training.schema, data: training.data)
    }

    public func fit(schema: FeatureSchema, data: Dataset) throws -> KMeansModel {
        let design = DesignMatrixSpec.fit(schema: schema, data: data)
        let p = design.terms.count
        let n = data.rows
        guard n >= parameters.clusters else { throw LearnError.tooFewRows(needed: parameters.clusters, found: n) }
        guard p > 0 else { throw LearnError.unsupported("k-means needs at least one feature") }
        let x = design.matrix(data)
        let (_, scale) = try columnMoments(x, rows: n, columns: p, names: design.terms.map(\.name))
        let threshold = parameters.tolerance * scale.reduce(0) { $0 + $1 * $1 } / Double(p)
        var master = SeededGenerator(seed: parameters.seed)
        let seeds = (0..<parameters.restarts).map { _ in master.next() }
        let runs = parallelMap(parameters.restarts) { i in
            Self.run(
                x, n: n, p: p, k: parameters.clusters, maxIterations: parameters.maxIterations, threshold: threshold,
                seed: seeds[i])
        }
        let best = runs.min { $0.inertia < $1.inertia }!
        return KMeansModel(
            schema: schema, design: design, centers: best.centers, inertia: best.inertia, iterations: best.iterations)
    }

    struct Run: Sendable {
        var centers: [Double]
        var inertia: Double
        var iterations: Int
    }

    static func run(_ x: [Double], n: Int, p: Int, k: Int, maxIterations: Int, threshold: Double, seed: UInt64) -> Run {
        var rng = SeededGenerator(seed: seed)
        var centers = initialCenters(x, n: n, p: p, k: k, rng: &rng)
        var labels = [Int](repeating: 0, count: n)
        var distances = [Double](repeating: 0, count: n)
        var iterations = 0
        for iteration in 1...maxIterations {
            iterations = iteration
            assign(x, n: n, p: p, centers: centers, labels: &labels, distances: &distances)
            var sums = [Double](repeating: 0, count: k * p)
            var counts = [Int](repeating: 0, count: k)
            for r in 0..<n {
                counts[labels[r]] += 1
                for j in 0..<p { sums[labels[r] * p + j] += x[r * p + j] }
            }
            var moved = [Bool](repeating: false, count: n)
            for c in 0..<k where counts[c] == 0 {
                // An empty cluster takes the point farthest from its centre (as scikit-learn relocates them).
                let far = (0..<n).filter { !moved[$0] }.max { distances[$0] < distances[$1] }!
                moved[far] = true
                for j in 0..<p { sums[c * p + j] = x[far * p + j] }
                counts[c] = 1
            }
            var shift = 0.0
            for c in 0..<k {
                for j in 0..<p {
                    let v = sums[c * p + j] / Double(counts[c])
                    shift += (v - centers[c * p + j]) * (v - centers[c * p + j])
                    centers[c * p + j] = v
                }
            }
            if shift <= threshold { break }
        }
        assign(x, n: n, p: p, centers: centers, labels: &labels, distances: &distances)
        return Run(centers: centers, inertia: distances.reduce(0, +), iterations: iterations)
    }

    /// Squared distance of each row to its nearest centre, and which centre that is.
    static func assign(_ x: [Double], n: Int, p: Int, centers: [Double], labels: inout [Int], distances: inout [Double])
    {
        let k = centers.count / p
        for r in 0..<n {
            var best = 0
            var bestD = Double.infinity
            for c in 0..<k {
                var d = 0.0
                for j in 0..<p {
                    let e = x[r * p + j] - centers[c * p + j]
                    d += e * e
                }
                if d < bestD {
                    bestD = d
                    best = c
                }
            }
            labels[r] = best
            distances[r] = bestD
        }
    }

    /// Greedy k-means++: each new centre is the best (by resulting inertia) of 2 + ln k candidates drawn with
    /// probability proportional to the squared distance to the nearest centre so far.
    static func initialCenters(_ x: [Double], n: Int, p: Int, k: Int, rng: inout SeededGenerator) -> [Double] {
        func row(_ r: Int) -> ArraySlice<Double> { x[(r * p)..<((r + 1) * p)] }
        func squaredDistance(_ r: Int, _ center: ArraySlice<Double>) -> Double {
            var d = 0.0
            for (j, c) in center.enumerated() {
                let e = x[r * p + j] - c
                d += e * e
            }
            return d
        }
        var centers = Array(row(Int(rng.next(upperBound: UInt64(n)))))
        var closest = (0..<n).map { squaredDistance($0, centers[0..<p]) }
        let trials = 2 + Int(log(Double(k)))
        for _ in 1..<k {
            let total = closest.reduce(0, +)
            var bestCandidate = 0
            var bestPotential = Double.infinity
            var bestClosest = closest
            for _ in 0..<trials {
                var target = Double(rng.next() >> 11) / Double(1 << 53) * total
                var candidate = n - 1
                for r in 0..<n {
                    target -= closest[r]
                    if target < 0 {
                        candidate = r
                        break
                    }
                }
                let candidateRow = row(candidate)
                let updated = (0..<n).map { min(closest[$0], squaredDistance($0, candidateRow)) }
                let potential = updated.reduce(0, +)
                if potential < bestPotential {
                    bestPotential = potential
                    bestCandidate = candidate
                    bestClosest = updated
                }
            }
            centers += row(bestCandidate)
            closest = bestClosest
        }
        return centers
    }
}

/// A fitted k-means model: cluster centres in design-column units.
public struct KMeansModel: FittedLearner {
    public var labels: [String] { [] }
    public var schema: FeatureSchema
    public var design: DesignMatrixSpec
    /// Row-major `clusters × terms`.
    public var centers: [Double]
    /// Sum of squared distances of the training rows to their centres.
    public var inertia: Double
    public var iterations: Int

    public var clusterCount: Int { centers.count / max(1, design.terms.count) }

    /// The nearest cluster's index as the value; no probabilities.
    public func predict(_ data: Dataset) -> Predictions {
        Predictions(values: assign(data).labels.map(Double.init), probabilities: [], classCount: 0)
    }

    /// The nearest centre of each row (as `values`), and the squared distance to it in `probabilities`' place.
    public func assign(_ data: Dataset) -> (labels: [Int], distances: [Double]) {
        let p = design.terms.count
        var labels = [Int](repeating: 0, count: data.rows)
        var distances = [Double](repeating: 0, count: data.rows)
        KMeans.assign(design.matrix(data), n: data.rows, p: p, centers: centers, labels: &labels, distances: &distances)
        return (labels, distances)
    }
}
