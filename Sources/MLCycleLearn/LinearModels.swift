import Foundation
import MLCycleData

/// How features become the columns of a linear model: numbers as they are (missing → the training mean),
/// categories one-hot with the first level as the reference (missing or unseen → all zeros).
public struct DesignMatrixSpec: Codable, Sendable, Equatable {
    public struct Term: Codable, Sendable, Equatable {
        /// Index into the schema's features.
        public var feature: Int
        /// For a categorical feature: the level this indicator is 1 for.
        public var level: Int?
        /// The value used where a numeric feature is missing.
        public var fill: Double
        /// Readable name: the column, or `column=level`.
        public var name: String
        /// The term's mean over the training rows (missing numbers counted as `fill`), from which contributions
        /// are measured; nil in models trained before it was recorded.
        public var mean: Double? = nil
    }
    public var terms: [Term]

    /// Terms for a schema, with fill values (means) from the training data.
    static func fit(schema: FeatureSchema, data: Dataset) -> DesignMatrixSpec {
        var terms = [Term]()
        for (i, f) in schema.features.enumerated() {
            switch data.columns[i] {
            case .numeric(let v, let valid):
                var sum = 0.0
                var n = 0
                for r in 0..<v.count where valid?[r] ?? true {
                    sum += v[r]
                    n += 1
                }
                let mean = n > 0 ? sum / Double(n) : 0
                terms.append(Term(feature: i, level: nil, fill: mean, name: f.name, mean: mean))
            case .categorical(let codes, let levels):
                var counts = [Int](repeating: 0, count: max(1, levels))
                for c in codes where c >= 0 && Int(c) < levels { counts[Int(c)] += 1 }
                for l in 1..<max(1, levels) {
                    terms.append(
                        Term(
                            feature: i, level: l, fill: 0, name: "\(f.name)=\(f.levels?[l] ?? String(l))",
                            mean: Double(counts[l]) / Double(max(1, codes.count))))
                }
            }
        }
        return DesignMatrixSpec(terms: terms)
    }

    /// The n × p matrix (row-major) of the terms for a dataset.
    func matrix(_ data: Dataset) -> [Double] {
        let p = terms.count
        let n = data.rows
        var x = [Double](repeating: 0, count: n * p)
        for (j, t) in terms.enumerated() {
            switch data.columns[t.feature] {
            case .numeric(let v, let valid):
                for r in 0..<n { x[r * p + j] = (valid?[r] ?? true) ? v[r] : t.fill }
            case .categorical(let codes, _):
                let level = Int32(t.level ?? -1)
                for r in 0..<n where codes[r] == level { x[r * p + j] = 1 }
            }
        }
        return x
    }
}

/// Dense symmetric positive-definite solves (Cholesky), for the normal equations and Newton steps.
enum Cholesky {
    /// Solves A x = b for a symmetric positive semi-definite `a`: a column whose pivot falls below `tolerance`
    /// times its diagonal (a linear combination of earlier columns) is left out, its x set to 0. The result is a
    /// least-squares solution with the same fitted values as any other; `dropped` lists the columns left out.
    static func solveDroppingDependent(_ a: [Double], _ b: [Double], n: Int, tolerance: Double = 1e-9) -> (
        x: [Double], dropped: [Int]
    ) {
        var l = [Double](repeating: 0, count: n * n)
        var keep = [Bool](repeating: true, count: n)
        for j in 0..<n {
            var d = a[j * n + j]
            for k in 0..<j where keep[k] { d -= l[j * n + k] * l[j * n + k] }
            if d <= tolerance * max(a[j * n + j], .leastNormalMagnitude) || !d.isFinite {
                keep[j] = false
                continue
            }
            let djj = d.squareRoot()
            l[j * n + j] = djj
            for i in (j + 1)..<max(j + 1, n) {
                var s = a[i * n + j]
                for k in 0..<j where keep[k] { s -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = s / djj
            }
        }
        var y = [Double](repeating: 0, count: n)
        for i in 0..<n where keep[i] {
            var s = b[i]
            for k in 0..<i where keep[k] { s -= l[i * n + k] * y[k] }
            y[i] = s / l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) where keep[i] {
            var s = y[i]
            for k in (i + 1)..<max(i + 1, n) where keep[k] { s -= l[k * n + i] * y[k] }
            y[i] = s / l[i * n + i]
        }
        return (y, (0..<n).filter { !keep[$0] })
    }

    /// Solves A x = b for a symmetric positive-definite `a` (n × n, row-major); nil when `a` is not positive definite.
    static func solve(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
        var l = a
        // Factor A = L Lᵀ in place (lower triangle).
        for j in 0..<n {
            var d = l[j * n + j]
            for k in 0..<j { d -= l[j * n + k] * l[j * n + k] }
            guard d > 0, d.isFinite else { return nil }
            let djj = d.squareRoot()
            l[j * n + j] = djj
            for i in (j + 1)..<max(j + 1, n) {
                var s = l[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = s / djj
            }
        }
        var y = b
        for i in 0..<n {
            var s = y[i]
            for k in 0..<i { s -= l[i * n + k] * y[k] }
            y[i] = s / l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = y[i]
            for k in (i + 1)..<max(i + 1, n) { s -= l[k * n + i] * y[k] }
            y[i] = s / l[i * n + i]
        }
        return y
    }
}

/// Column means and standard deviations of a row-major matrix (for standardising internally); a column whose
/// moments (or squared spread) overflow is refused by its term's name rather than fitted into NaN coefficients.
func columnMoments(_ x: [Double], rows n: Int, columns p: Int, names: [String]) throws -> (
    mean: [Double], scale: [Double]
) {
    var mean = [Double](repeating: 0, count: p)
    var scale = [Double](repeating: 0, count: p)
    for r in 0..<n { for j in 0..<p { mean[j] += x[r * p + j] } }
    for j in 0..<p { mean[j] /= Double(max(1, n)) }
    for r in 0..<n {
        for j in 0..<p {
            let d = x[r * p + j] - mean[j]
            scale[j] += d * d
        }
    }
    for j in 0..<p { scale[j] = (scale[j] / Double(max(1, n))).squareRoot() }
    for j in 0..<p where !mean[j].isFinite || !(scale[j] * scale[j]).isFinite {
        let largest = (0..<n).reduce(0.0) { max($0, abs(x[$1 * p + j])) }
        throw LearnError.valuesTooLarge(column: names[j], largest: largest)
    }
    return (mean, scale)
}

// MARK: - Linear regression

/// Ordinary least squares, or ridge with `alpha > 0` (scikit-learn's `Ridge(alpha)`: the penalty is on the
/// coefficients in original units, the intercept is not penalised). Solved exactly via the normal equations on
/// internally standardised columns (Cholesky), not by gradient descent.
@dynamicMemberLookup
public struct LinearRegression: Learner {
    public var parameters: Parameters

    /// The hyperparameters (scikit-learn's names).
    public struct Parameters: Codable, Sendable, Equatable {
        /// Ridge penalty (0: ordinary least squares).
        public var alpha = 0.0

        public init() {}

        /// From `NAME=VALUE` text.
        public init(_ text: [String: String]) throws {
            self = try Hyperparameters.parse(
                text, into: Parameters(),
                table: [
                    .number("alpha", \.alpha, expected: "a number ≥ 0") { $0 >= 0 }
                ])
        }
    }

    /// A hyperparameter by its Swift name (`linear.alpha`).
    public subscript<T>(dynamicMember name: WritableKeyPath<Parameters, T>) -> T {
        get { parameters[keyPath: name] }
        set { parameters[keyPath: name] = newValue }
    }

    public init(alpha: Double = Parameters().alpha) {
        parameters = Parameters()
        parameters.alpha = alpha
    }

    public init(parameters: Parameters) { self.parameters = parameters }

    public init(parameters: [String: String]) throws { self.init(parameters: try Parameters(parameters)) }

    public func fit(_ training: TrainingSet) throws -> LinearRegressionModel {
        guard case .numbers(let y) = try training.requiredTarget() else {
            throw LearnError.unsupported(
                "the linear learner is for regression; use --learner logistic for classification")
        }
        return try fit(schema: training.schema, data: training.data, target: y)
    }

    public func fit(schema: FeatureSchema, data: Dataset, target: [Double]) throws -> LinearRegressionModel {
        guard data.rows >= 2 else { throw LearnError.tooFewRows(needed: 2, found: data.rows) }
        let design = DesignMatrixSpec.fit(schema: schema, data: data)
        let p = design.terms.count
        let n = data.rows
        let x = design.matrix(data)
        let (mean, scale) = try columnMoments(x, rows: n, columns: p, names: design.terms.map(\.name))
        let yMean = Statistics.mean(target)
        // Standardised columns; constant ones are left out (coefficient 0).
        let active = (0..<p).filter { scale[$0] > 1e-12 * max(1, abs(mean[$0])) }
        let q = active.count
        var gram = [Double](repeating: 0, count: q * q)
        var rhs = [Double](repeating: 0, count: q)
        var z = [Double](repeating: 0, count: q)
        for r in 0..<n {
            for (a, j) in active.enumerated() { z[a] = (x[r * p + j] - mean[j]) / scale[j] }
            let yc = target[r] - yMean
            for a in 0..<q {
                rhs[a] += z[a] * yc
                for b in 0...a { gram[a * q + b] += z[a] * z[b] }
            }
        }
        for a in 0..<q {
            for b in 0..<a { gram[b * q + a] = gram[a * q + b] }
            // w = β / s, so alpha·w² = (alpha / s²)·β²
            gram[a * q + a] += parameters.alpha / (scale[active[a]] * scale[active[a]])
        }
        // Columns that are combinations of earlier ones (collinear features) get coefficient 0, as a
        // least-squares solution allows; the fitted values are the same as scikit-learn's minimum-norm ones.
        let beta = Cholesky.solveDroppingDependent(gram, rhs, n: q).x
        var coefficients = [Double](repeating: 0, count: p)
        for (a, j) in active.enumerated() { coefficients[j] = beta[a] / scale[j] }
        var intercept = yMean
        for j in 0..<p { intercept -= coefficients[j] * mean[j] }
        return LinearRegressionModel(schema: schema, design: design, coefficients: coefficients, intercept: intercept)
    }
}

/// A fitted linear regression: `intercept + Σ coefficient · term`, coefficients in original units.
public struct LinearRegressionModel: FittedLearner {
    public var labels: [String] { [] }
    public var schema: FeatureSchema
    public var design: DesignMatrixSpec
    public var coefficients: [Double]
    public var intercept: Double

    public func predict(_ data: Dataset) -> Predictions {
        let p = coefficients.count
        let x = design.matrix(data)
        let values = (0..<data.rows).map { r in
            var s = intercept
            for j in 0..<p { s += coefficients[j] * x[r * p + j] }
            return s
        }
        return Predictions(values: values, probabilities: [], classCount: 0)
    }
}

// MARK: - Logistic regression

/// L2-regularised logistic regression as scikit-learn's `LogisticRegression(C)`: minimises
/// C · Σ log-loss + ½ ‖w‖² (intercepts not penalised), binary with one weight vector, multiclass multinomial
/// (softmax). Solved by Newton's method with a backtracking line search to a gradient norm below `tol`.
@dynamicMemberLookup
public struct LogisticRegression: Learner {
    public var parameters: Parameters

    /// The hyperparameters (scikit-learn's names).
    public struct Parameters: Codable, Sendable, Equatable {
        /// Inverse regularisation strength.
        public var c = 1.0
        public var maxIterations = 100
        public var tolerance = 1e-10

        public init() {}

        /// From `NAME=VALUE` text.
        public init(_ text: [String: String]) throws {
            self = try Hyperparameters.parse(
                text, into: Parameters(),
                table: [
                    .number("C", \.c, expected: "a number > 0") { $0 > 0 },
                    .whole("max_iter", \.maxIterations, expected: "a whole number > 0") { $0 > 0 },
                    .number("tol", \.tolerance, expected: "a number > 0") { $0 > 0 },
                ])
        }
    }

    /// A hyperparameter by its Swift name (`logistic.c`).
    public subscript<T>(dynamicMember name: WritableKeyPath<Parameters, T>) -> T {
        get { parameters[keyPath: name] }
        set { parameters[keyPath: name] = newValue }
    }

    public init(
        c: Double = Parameters().c, maxIterations: Int = Parameters().maxIterations,
        tolerance: Double = Parameters().tolerance
    ) {
        parameters = Parameters()
        (parameters.c, parameters.maxIterations, parameters.tolerance) = (c, maxIterations, tolerance)
    }

    public init(parameters: Parameters) { self.parameters = parameters }

    public init(parameters: [String: String]) throws { self.init(parameters: try Parameters(parameters)) }

    public func fit(_ training: TrainingSet) throws -> LogisticRegressionModel {
        guard case .classes(let y, let labels) = try training.requiredTarget() else {
            throw LearnError.unsupported(
                "the logistic learner is for classification; use --learner linear for regression")
        }
        return try fit(schema: training.schema, data: training.data, classes: y, labels: labels)
    }

    public func fit(schema: FeatureSchema, data: Dataset, classes y: [Int32], labels: [String]) throws
        -> LogisticRegressionModel
    {
        guard data.rows >= 2 else { throw LearnError.tooFewRows(needed: 2, found: data.rows) }
        let design = DesignMatrixSpec.fit(schema: schema, data: data)
        let p = design.terms.count
        let n = data.rows
        let x = design.matrix(data)
        let (mean, rawScale) = try columnMoments(x, rows: n, columns: p, names: design.terms.map(\.name))
        let scale = rawScale.map { $0 > 1e-12 ? $0 : 1 }
        // Standardised design with a leading 1 for the intercept: z = [1, (x - mean) / scale].
        let d = p + 1
        var z = [Double](repeating: 0, count: n * d)
        for r in 0..<n {
            z[r * d] = 1
            for j in 0..<p { z[r * d + j + 1] = (x[r * p + j] - mean[j]) / scale[j] }
        }
        // Penalty in standardised space: ½ Σ (β_j / s_j)² / C.
        let penalty =
            [0] + (0..<p).map { rawScale[$0] > 1e-12 ? 1 / (parameters.c * scale[$0] * scale[$0]) : 1 / parameters.c }
        let k = labels.count == 2 ? 1 : labels.count  // binary: one weight vector, as scikit-learn
        var beta = [Double](repeating: 0, count: k * d)
        var iterations = 0
        var converged = false
        var previousLoss = Double.infinity
        while iterations < parameters.maxIterations {
            iterations += 1
            let (loss, gradient, hessian) = Self.objective(
                beta, z: z, y: y, n: n, d: d, k: k, penalty: penalty, needHessian: true)
            let gnorm = gradient.reduce(0) { max($0, abs($1)) }
            if gnorm <= parameters.tolerance * Double(max(1, n))
                || abs(previousLoss - loss) <= 1e-15 * max(1, abs(loss))
            {
                converged = true
                break
            }
            previousLoss = loss
            var h = hessian!
            let size = k * d
            // The multinomial intercepts are identified only up to a shared constant: a tiny ridge keeps H invertible.
            if k > 1 { for cls in 0..<k { h[(cls * d) * size + cls * d] += 1e-12 } }
            guard let step = Cholesky.solve(h, gradient, n: size) else {
                throw LearnError.unsupported(
                    "logistic regression could not take a Newton step (the features are degenerate); drop constant or duplicated columns"
                )
            }
            // Backtracking line search on the objective.
            var t = 1.0
            var accepted = false
            let descent = zip(gradient, step).reduce(0) { $0 + $1.0 * $1.1 }
            while t > 1e-10 {
                let candidate = zip(beta, step).map { $0 - t * $1 }
                let (newLoss, _, _) = Self.objective(
                    candidate, z: z, y: y, n: n, d: d, k: k, penalty: penalty, needHessian: false)
                if newLoss <= loss - 1e-4 * t * descent {
                    beta = candidate
                    accepted = true
                    break
                }
                t /= 2
            }
            if !accepted {
                converged = true
                break
            }
        }
        // Back to original units.
        var coefficients = [Double](repeating: 0, count: k * p)
        var intercepts = [Double](repeating: 0, count: k)
        for cls in 0..<k {
            var b = beta[cls * d]
            for j in 0..<p {
                let w = beta[cls * d + j + 1] / scale[j]
                coefficients[cls * p + j] = w
                b -= w * mean[j]
            }
            intercepts[cls] = b
        }
        if k > 1 {  // report the symmetric solution: intercepts summing to zero
            let m = intercepts.reduce(0, +) / Double(k)
            intercepts = intercepts.map { $0 - m }
        }
        return LogisticRegressionModel(
            schema: schema, design: design, labels: labels, coefficients: coefficients,
            intercepts: intercepts, iterations: iterations, converged: converged)
    }

    /// Penalised negative log-likelihood, its gradient and (optionally) its Hessian in the standardised space.
    static func objective(
        _ beta: [Double], z: [Double], y: [Int32], n: Int, d: Int, k: Int, penalty: [Double],
        needHessian: Bool
    ) -> (Double, [Double], [Double]?) {
        let size = k * d
        var loss = 0.0
        var gradient = [Double](repeating: 0, count: size)
        var hessian: [Double]? = needHessian ? [Double](repeating: 0, count: size * size) : nil
        var scores = [Double](repeating: 0, count: max(k, 2))
        var probs = [Double](repeating: 0, count: max(k, 2))
        for r in 0..<n {
            let row = r * d
            if k == 1 {
                var s = 0.0
                for j in 0..<d { s += beta[j] * z[row + j] }
                let yr = Double(y[r])
                // log(1 + e^s) - y·s, computed stably
                loss += (s > 0 ? s + log1p(exp(-s)) : log1p(exp(s))) - yr * s
                let pr = 1 / (1 + exp(-s))
                let g = pr - yr
                for j in 0..<d { gradient[j] += g * z[row + j] }
                if needHessian {
                    let w = pr * (1 - pr)
                    for a in 0..<d { for b in 0...a { hessian![a * size + b] += w * z[row + a] * z[row + b] } }
                }
            } else {
                var maxScore = -Double.infinity
                for cls in 0..<k {
                    var s = 0.0
                    for j in 0..<d { s += beta[cls * d + j] * z[row + j] }
                    scores[cls] = s
                    maxScore = max(maxScore, s)
                }
                var sum = 0.0
                for cls in 0..<k {
                    probs[cls] = exp(scores[cls] - maxScore)
                    sum += probs[cls]
                }
                for cls in 0..<k { probs[cls] /= sum }
                let yr = Int(y[r])
                loss += -(scores[yr] - maxScore - log(sum))
                for cls in 0..<k {
                    let g = probs[cls] - (cls == yr ? 1 : 0)
                    for j in 0..<d { gradient[cls * d + j] += g * z[row + j] }
                }
                if needHessian {
                    for c1 in 0..<k {
                        for c2 in 0...c1 {
                            let w = c1 == c2 ? probs[c1] * (1 - probs[c1]) : -probs[c1] * probs[c2]
                            for a in 0..<d {
                                let za = w * z[row + a]
                                for b in 0..<d { hessian![(c1 * d + a) * size + c2 * d + b] += za * z[row + b] }
                            }
                        }
                    }
                }
            }
        }
        for cls in 0..<k {
            for j in 0..<d {
                let i = cls * d + j
                loss += 0.5 * penalty[j] * beta[i] * beta[i]
                gradient[i] += penalty[j] * beta[i]
                if needHessian { hessian![i * size + i] += penalty[j] }
            }
        }
        if needHessian {  // only the lower triangle was accumulated: mirror it
            for a in 0..<size { for b in 0..<a { hessian![b * size + a] = hessian![a * size + b] } }
        }
        return (loss, gradient, hessian)
    }
}

/// A fitted logistic regression; coefficients in original units, one row per class (one row for binary).
public struct LogisticRegressionModel: FittedLearner {
    public var schema: FeatureSchema
    public var design: DesignMatrixSpec
    public var labels: [String]
    /// Row-major: `weightRows × terms`.
    public var coefficients: [Double]
    public var intercepts: [Double]
    public var iterations: Int
    public var converged: Bool

    /// Each row's linear score per weight row (`[row][weight row]`): the log-odds of the second class for a binary
    /// model, each class's softmax score for a multinomial one.
    func scores(_ data: Dataset) -> [[Double]] {
        let p = design.terms.count
        let x = design.matrix(data)
        return (0..<data.rows).map { r in
            intercepts.indices.map { cls in
                var s = intercepts[cls]
                for j in 0..<p { s += coefficients[cls * p + j] * x[r * p + j] }
                return s
            }
        }
    }

    public func predict(_ data: Dataset) -> Predictions {
        let k = intercepts.count
        let classes = labels.count
        var values = [Double](repeating: 0, count: data.rows)
        var probabilities = [Double](repeating: 0, count: data.rows * classes)
        for (r, scores) in self.scores(data).enumerated() {
            if k == 1 {
                let p1 = 1 / (1 + exp(-scores[0]))
                probabilities[r * 2] = 1 - p1
                probabilities[r * 2 + 1] = p1
                values[r] = p1 > 0.5 ? 1 : 0
            } else {
                let m = scores.max() ?? 0
                var sum = 0.0
                for cls in 0..<k { sum += exp(scores[cls] - m) }
                var best = 0
                for cls in 0..<k {
                    probabilities[r * classes + cls] = exp(scores[cls] - m) / sum
                    if probabilities[r * classes + cls] > probabilities[r * classes + best] { best = cls }
                }
                values[r] = Double(best)
            }
        }
        return Predictions(values: values, probabilities: probabilities, classCount: classes)
    }
}
