import Foundation
import MLCycleData

/// `mlcycle init`: a commented spec and a deterministic sample of data that runs as is.
public enum ProjectTemplate: String, CaseIterable, Sendable {
    case regression, binary

    /// Writes `mlcycle.yaml` and `data/sample.csv` into `directory` (created if needed); an existing spec is never
    /// overwritten. Returns the files written.
    public func write(to directory: String) throws -> [String] {
        let spec = (directory as NSString).appendingPathComponent("mlcycle.yaml")
        if FileManager.default.fileExists(atPath: spec) {
            throw DataError.invalidArgument("\(spec) exists already; mlcycle init never overwrites a project")
        }
        try FileManager.default.createDirectory(
            atPath: (directory as NSString).appendingPathComponent("data"), withIntermediateDirectories: true)
        try AtomicFile.write(Data(sample().utf8), to: (directory as NSString).appendingPathComponent("data/sample.csv"))
        try AtomicFile.write(Data(yaml.utf8), to: spec)
        return ["mlcycle.yaml", "data/sample.csv"]
    }

    /// 600 rows from a fixed generator, so every `init` writes the same file.
    func sample() -> String {
        var rng = SeededGenerator(seed: 2026)
        func uniform() -> Double { Double(rng.next(upperBound: 1_000_000)) / 1_000_000 }
        var out = ""
        switch self {
        case .regression:
            out = "id,area_sqft,rooms,district,built,price\n"
            for i in 0..<600 {
                let area = 600 + (3400 * uniform()).rounded()
                let rooms = 1 + Int(area / 700) + Int(rng.next(upperBound: 2))
                let district = ["north", "centre", "south"][Int(rng.next(upperBound: 3))]
                let built = 1950 + Int(rng.next(upperBound: 70))
                let premium = district == "centre" ? 1.25 : (district == "north" ? 1.1 : 1.0)
                let price = (40_000 + 140 * area * premium + 600 * Double(built - 1950)) * (0.96 + 0.08 * uniform())
                out += "\(i + 1),\(formatDouble(area)),\(rooms),\(district),\(built),\(Int(price.rounded()))\n"
            }
        case .binary:
            out = "id,tenure_months,monthly_fee,contract,support_calls,churned\n"
            for i in 0..<600 {
                let tenure = 1 + Int(rng.next(upperBound: 72))
                let fee = 20 + (80 * uniform() * 100).rounded() / 100
                let contract = ["monthly", "yearly", "two_year"][Int(rng.next(upperBound: 3))]
                let calls = Int(rng.next(upperBound: 7))
                let risk =
                    -2.2 + 0.7 * Double(calls) - 0.04 * Double(tenure) + (contract == "monthly" ? 1.2 : 0) + 0.01 * fee
                let churned = uniform() < 1 / (1 + exp(-risk))
                out += "\(i + 1),\(tenure),\(formatDouble(fee)),\(contract),\(calls),\(churned ? "yes" : "no")\n"
            }
        }
        return out
    }

    var yaml: String {
        switch self {
        case .regression:
            return """
                # An mlcycle project, in the order of the lifecycle. `mlcycle run .` runs it; edit each section for your data.
                problem:
                  name: prices                      # the registered model's name
                  owner: you
                  task: regression                  # regression, binary, multiclass or clustering
                  target: price                     # the column to predict
                  goal: Estimate a home's price; an estimate within 10 % of the sale price is a success.
                  success: within_10pct >= 0.75     # the business metric and its threshold (also a gate)
                  scope:                            # rows outside are not trained on, and are answered for review
                    - area_sqft between 300 and 10000

                sources:                            # CSV or JSON Lines files (relative to this file), joined in order
                  - name: sample
                    path: data/sample.csv

                validation: {}                      # source name (or merged): rules file; errors stop the run

                preparation:                        # fitted on training rows only, applied the same way when serving
                  - derive: {name: age, expression: "2026 - built"}
                  - drop: [id]

                split: {method: random, test: 0.2, seed: 42}

                candidates:                         # the baseline first
                  - {name: baseline, learner: linear}
                  - {name: gbdt, learner: gbdt, params: {n_estimators: 300, learning_rate: 0.05}}

                evaluation:
                  metric: mape                      # ranks candidates and slices
                  range: 0.9                        # a calibrated 90 % price range with every prediction
                  slices: [district]
                  gates:
                    - mape <= baseline              # at least as good as the baseline

                release:
                  auto_promote: true                # the first version that passes becomes the champion
                  canary: 10%

                monitoring:
                  window: 1d
                  alerts:
                    - {name: accuracy-drop, when: "mape > 0.12 over 7d", severity: critical, cooldown: 1d}

                retraining:
                  schedule: "0 3 1 */3 *"           # quarterly (cron)
                  on: [accuracy-drop]
                  promote: approval

                """
        case .binary:
            return """
                # An mlcycle project, in the order of the lifecycle. `mlcycle run .` runs it; edit each section for your data.
                problem:
                  name: churn                       # the registered model's name
                  owner: you
                  task: binary
                  target: churned                   # yes / no; the positive class is the rarer one
                  goal: Find the customers likely to leave, so the retention team can call them first.
                  success: auc >= 0.75

                sources:
                  - name: sample
                    path: data/sample.csv

                preparation:
                  - drop: [id]

                split: {method: stratified, column: churned, test: 0.25, seed: 42}

                candidates:
                  - {name: baseline, learner: logistic}
                  - {name: gbdt, learner: gbdt, params: {n_estimators: 200, learning_rate: 0.05, num_leaves: 15}}

                evaluation:
                  metric: logloss
                  slices: [contract]
                  gates:
                    - auc >= baseline - 0.02        # no worse than the baseline
                    - recall >= 0.5                 # catch at least half of the leavers at the 0.5 threshold

                release:
                  auto_promote: true

                monitoring:
                  window: 1d
                  alerts:
                    - {name: drift, when: "drift_share > 0.3", severity: warning, cooldown: 1d}

                """
        }
    }
}
