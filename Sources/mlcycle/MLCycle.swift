import ArgumentParser
import CMallocTuning
import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleMetrics
import MLCycleMonitor
import MLCyclePrep
import MLCycleProject
import MLCycleQuality
import MLCycleReport
import MLCycleServe
import MLCycleSources
import MLCycleStore
import MLCycleUI
import Metrics

/// The mlcycle command line: thin commands over the libraries.
@main
struct MLCycle: AsyncParsableCommand {
    static func main() async {
        mlcycle_keep_freed_memory()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "mlcycle",
        abstract: "The machine-learning lifecycle in one binary: data, quality, training, serving, monitoring.",
        version: MLCycleVersion.current,
        subcommands: [
            Profile.self, Validate.self, SuggestRules.self, Fingerprint.self, Prepare.self, Train.self, Predict.self,
            Evaluate.self, Tune.self, Explain.self, Export.self, Import.self,
            Run.self, Runs.self, Show.self, Models.self, ModelCommand.self, Promote.self, Rollback.self, Lineage.self,
            Report.self, Init.self, Serve.self, Drift.self, Monitor.self, Compare.self, Review.self, Alerts.self,
            Approve.self,
            Retrain.self,
            Watch.self, Replay.self, WorkerCommand.self, StoreCommand.self, UICommand.self, Reference.self,
        ]
    )
}

/// How to read a table: the CSV dialect and forced column types (shared by every command that reads data).
struct ReadingOptions: ParsableArguments {
    @Option(help: "Field delimiter of a CSV file (one character; \\t for tab).")
    var delimiter: String = ","

    @Option(
        name: .customLong("na"),
        help: "A missing-value token (repeatable); replaces the defaults: '', NA, NaN, null, N/A.")
    var missingTokens: [String] = []

    @Option(
        name: .customLong("type"),
        help: "Force a column's type, as COLUMN=TYPE (float64, int64, bool, string, date, timestamp); repeatable.")
    var types: [String] = []

    @Option(help: "How a CSV file's bytes are read: utf8 (bytes that are not UTF-8 are an error) or latin1.")
    var encoding: String = "utf8"

    func csvOptions() throws -> CSVOptions {
        var options = CSVOptions()
        guard let e = TextEncoding(rawValue: encoding) else {
            throw ValidationError("--encoding takes utf8 or latin1, not '\(encoding)'")
        }
        options.encoding = e
        let d = delimiter == "\\t" ? "\t" : delimiter
        guard d.count == 1, let c = d.first else {
            throw ValidationError("--delimiter must be one character, not '\(delimiter)'")
        }
        options.delimiter = c
        if !missingTokens.isEmpty { options.missingTokens = missingTokens }
        let typeForm = "COLUMN=TYPE with TYPE one of \(DataType.allCases.map(\.rawValue).joined(separator: ", "))"
        for (column, name) in try assignments(types, option: "--type", form: typeForm) {
            guard let t = DataType(rawValue: name) else {
                throw ValidationError("--type takes \(typeForm); got '\(column)=\(name)'")
            }
            options.columnTypes[column] = t
        }
        return options
    }
}

/// A table given as the command's argument.
struct InputOptions: ParsableArguments {
    @Argument(help: "A CSV, TSV or JSON Lines file (or a SQLite database with --query).")
    var file: String

    @OptionGroup var reading: ReadingOptions

    @Option(help: "Read FILE as a SQLite database and take the table from this SQL query.")
    var query: String?

    func load() throws -> MLCycleData.Table {
        try DataSource.forFile(file, query: query, csvOptions: try reading.csvOptions()).load()
    }
}

/// Runs a command body; a user error prints one clear line and exits with 2 (1 stays "checks failed").
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch { throw reported(error) }
}

/// The same for async commands.
func runReportingAsyncErrors(_ body: () async throws -> Void) async throws {
    do { try await body() } catch { throw reported(error) }
}

/// What a command's error becomes: ArgumentParser's own errors as they are, anything else one line on standard
/// error and exit code 2.
func reported(_ error: any Error) -> any Error {
    if error is ExitCode || error is ValidationError { return error }
    let message = (error as? LocalizedError)?.errorDescription ?? String(describing: error)
    FileHandle.standardError.write(Data("mlcycle: error: \(message)\n".utf8))
    return ExitCode(2)
}

/// `NAME=VALUE` options, in order; a malformed one is a usage error (exit 64), as ArgumentParser's own are.
func assignments(_ texts: [String], option: String, form: String = "NAME=VALUE") throws -> [(String, String)] {
    do { return try Assignments.pairs(texts, option: option, form: form).map { ($0.name, $0.value) } } catch {
        throw ValidationError(error.localizedDescription)
    }
}

/// Writes output to a file atomically, or to standard output for "-".
func emit(_ data: Data, to path: String) throws {
    if path == "-" {
        FileHandle.standardOutput.write(data)
        if data.last != 10 { FileHandle.standardOutput.write(Data("\n".utf8)) }
    } else {
        try AtomicFile.write(data, to: path)
    }
}

/// The JSON of a command's `--json` output; a number that is not finite (a column holding `inf`) is written as the
/// string "Infinity", "-Infinity" or "NaN", as JSON has no number for it.
func encodeJSON<T: Encodable>(_ value: T) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = JSONEncoder.nonFiniteAsStrings
    return try encoder.encode(value)
}

/// Pads or cuts text to a column width for terminal tables.
func cell(_ s: String, _ width: Int, right: Bool = false) -> String {
    let t = s.count > width ? String(s.prefix(width - 1)) + "…" : s
    let pad = String(repeating: " ", count: max(0, width - t.count))
    return right ? pad + t : t + pad
}

func compact(_ v: ProfileValue?) -> String {
    guard let v else { return "" }
    switch v {
    case .text(let s): return s
    case .number(let d):
        if d == d.rounded(), abs(d) < 1e12 { return String(Int64(d)) }
        return String(format: "%.4g", d)
    }
}

struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Profile a table: per-column statistics, correlations, duplicates.")

    @OptionGroup var input: InputOptions

    @Option(help: "A target column: list the columns most associated with it.")
    var target: String?

    @Option(
        help: ArgumentHelp(
            "Which columns the correlation matrices cover: top:N or all.",
            discussion:
                "top:N keeps at most N numeric and N categorical columns: the target and the columns most associated with it, or the first N without a target. The target's associations cover every column either way."
        ))
    var correlations = CorrelationColumns(limit: ProfileOptions.defaultCorrelationColumns)

    @Option(help: "Write the profile as JSON to this file ('-' for standard output).")
    var json: String?

    @Option(help: "Write a self-contained HTML report to this file.")
    var html: String?

    func run() throws {
        try runReportingErrors {
            let table = try input.load()
            let profile = try Profiler.profile(
                table, options: ProfileOptions(target: target, correlationColumns: correlations.limit))
            if let json { try emit(try profile.jsonData(), to: json) }
            if let html {
                let title = URL(fileURLWithPath: input.file).lastPathComponent
                try emit(Data(ProfileReport.html(profile, title: title).utf8), to: html)
            }
            if json != "-" { printSummary(profile) }
        }
    }

    func printSummary(_ p: TableProfile) {
        print("\(input.file): \(p.rows) rows, \(p.columns.count) columns, \(p.duplicateRows) duplicate rows")
        print(
            [
                cell("column", 24), cell("type", 9), cell("missing", 8, right: true), cell("distinct", 9, right: true),
                cell("mean", 11, right: true), cell("min", 11, right: true), cell("median", 11, right: true),
                cell("max", 11, right: true),
                "  top",
            ].joined(separator: " "))
        for c in p.columns {
            let top = c.top.first.map { "\($0.value) (\($0.count))" } ?? ""
            print(
                [
                    cell(c.name, 24), cell(c.type.rawValue, 9), cell(String(c.missing), 8, right: true),
                    cell(String(c.distinct), 9, right: true),
                    cell(compact(c.mean), 11, right: true), cell(compact(c.min), 11, right: true),
                    cell(compact(c.median), 11, right: true),
                    cell(compact(c.max), 11, right: true), "  " + (c.type == .string || c.type == .bool ? top : ""),
                ].joined(separator: " "))
        }
        if let t = p.target {
            print("\nstrongest associations with \(t.name):")
            for a in t.associations.prefix(10) {
                print("  \(cell(a.column, 24)) \(cell(a.measure, 18)) \(String(format: "%+.3f", a.value))")
            }
        }
    }
}

struct Drift: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a current table with a reference, column by column; exit code 1 when the dataset drifts.",
        discussion: """
            Each column gets the test Evidently would choose: with at most 1,000 reference values, Kolmogorov–Smirnov \
            for numbers (more than 5 distinct values), a two-proportion z-test for two categories, chi-square for \
            more (p < 0.05 drifts); with more, the Wasserstein distance normed by the reference's standard deviation \
            for numbers and the Jensen–Shannon distance for categories (> 0.1 drifts). PSI, KS, chi-square, \
            Wasserstein and Jensen–Shannon are reported wherever they apply. The dataset drifts when at least \
            --drift-share of its columns do.
            """)

    @Option(help: "The reference table (e.g. the training data): CSV, TSV or JSON Lines.") var reference: String
    @Option(help: "The current table.") var current: String
    @Option(
        parsing: .upToNextOption,
        help: "Columns to compare (default: every column both tables have); commas or spaces between names.")
    var columns: [String] = []
    @Option(
        name: .customLong("rule"),
        help:
            "COLUMN=METHOD[:THRESHOLD] (repeatable): ks, chi2, z, wasserstein, jensen_shannon or psi, e.g. living_area=psi:0.25."
    )
    var rules: [String] = []
    @Option(help: "The share of drifted columns at which the dataset drifts.") var driftShare = 0.5
    @OptionGroup var reading: ReadingOptions
    @Option(help: "Write the report as JSON to this file ('-' for standard output).") var json: String?
    @Option(help: "Write an HTML report (verdict, table, a distribution overlay per column) to this file.") var html:
        String?

    func run() throws {
        var drifted = false
        try runReportingErrors {
            let options = try reading.csvOptions()
            let ref = try DataSource.forFile(reference, csvOptions: options).load()
            // The current table is read with the reference's types, so a column means the same on both sides.
            var currentOptions = options
            if case .csv(let path, let o) = DataSource.forFile(current, csvOptions: options) {
                currentOptions = o
                let present = Set(try CSVReader.columnNames(path: path, options: o))
                for c in ref.columns where present.contains(c.name) && currentOptions.columnTypes[c.name] == nil {
                    currentOptions.columnTypes[c.name] = c.type
                }
            }
            let cur = try DataSource.forFile(current, csvOptions: currentOptions).load()
            var driftOptions = DriftOptions()
            driftOptions.driftShare = driftShare
            let ruleForm =
                "COLUMN=METHOD[:THRESHOLD] with METHOD one of \(DriftRule.Method.allCases.map(\.rawValue).joined(separator: ", "))"
            for (column, text) in try assignments(rules, option: "--rule", form: ruleForm) {
                let methodParts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(
                    String.init)
                guard let method = methodParts.first.flatMap(DriftRule.Method.init(rawValue:)),
                    methodParts.count == 1 || Double(methodParts[1]) != nil
                else { throw ValidationError("--rule takes \(ruleForm); got '\(column)=\(text)'") }
                driftOptions.rules[column] = DriftRule(
                    method: method, threshold: methodParts.count == 2 ? Double(methodParts[1]) : nil)
            }
            let names = columns.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                .filter { !$0.isEmpty }
            let report = try DriftDetector.compare(
                reference: ref, current: cur, columns: names.isEmpty ? nil : names, options: driftOptions)
            if let json { try emit(try encodeJSON(report), to: json) }
            if let html {
                try AtomicFile.write(
                    Data(DriftReportPage.html(report, title: "\(current) vs \(reference)").utf8), to: html)
            }
            if json != "-" { print(DriftReportPage.text(report), terminator: "") }
            drifted = report.datasetDrift
        }
        if drifted { throw ExitCode(1) }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a table against rules; exit code 1 when an error-severity rule fails.")

    @OptionGroup var input: InputOptions

    @Option(help: "The rules file (YAML).")
    var rules: String

    @Option(help: "Write the report as JSON to this file ('-' for standard output).")
    var json: String?

    func run() throws {
        var failed = false
        try runReportingErrors {
            let ruleSet = try RuleFile.load(path: rules)
            let table = try input.load()
            let report = Validator.validate(table, rules: ruleSet)
            if let json { try emit(try encodeJSON(report), to: json) }
            if json != "-" {
                for r in report.results {
                    let mark = r.passed ? "pass" : (r.severity == .error ? "FAIL" : "warn")
                    print("\(mark)  \(r.rule)\(r.passed ? "" : " — \(r.message ?? "")")")
                    for e in r.examples where !r.passed && e.row > 0 {
                        print("        row \(e.row)\(e.value.isEmpty ? "" : ": \(e.value)")")
                    }
                }
                print(
                    "\(report.results.count) rules on \(report.rows) rows: \(report.failedErrors) errors, \(report.failedWarnings) warnings"
                )
            }
            failed = !report.passed
        }
        if failed { throw ExitCode(1) }
    }
}

struct SuggestRules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suggest-rules",
        abstract: "Infer a starting rule set from a reference table (review it before use).")

    @OptionGroup var input: InputOptions

    @Option(help: "Write the rules to this YAML file (default: standard output).")
    var out: String?

    func run() throws {
        try runReportingErrors {
            let table = try input.load()
            let rules = try RuleSuggestion.suggest(from: table)
            let text = try RuleFile.yaml(
                rules,
                header:
                    "Rules suggested by mlcycle from \(URL(fileURLWithPath: input.file).lastPathComponent) (\(table.rowCount) rows).\nReview them: they describe this sample, not what must always hold."
            )
            try emit(Data(text.utf8), to: out ?? "-")
        }
    }
}

struct Fingerprint: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a table's content fingerprint (SHA-256 of its canonical form).")

    @OptionGroup var input: InputOptions

    @Option(help: "Write {fingerprint, rows, columns: [{name, type}]} as JSON to this file ('-' for standard output).")
    var json: String?

    struct Output: Encodable {
        struct Field: Encodable {
            var name: String
            var type: DataType
        }
        var fingerprint: String
        var rows: Int
        var columns: [Field]
    }

    func run() throws {
        try runReportingErrors {
            let table = try input.load()
            let fingerprint = table.fingerprint()
            if let json {
                let output = Output(
                    fingerprint: fingerprint, rows: table.rowCount,
                    columns: table.schema.map { Output.Field(name: $0.name, type: $0.type) })
                try emit(try encodeJSON(output), to: json)
            }
            if json != "-" {
                print("\(fingerprint)  \(table.rowCount) rows × \(table.columnCount) columns  \(input.file)")
            }
        }
    }
}

/// A table given with `--data FILE`.
struct DataOptions: ParsableArguments {
    @Option(help: "A CSV, TSV or JSON Lines file.")
    var data: String

    @OptionGroup var reading: ReadingOptions

    func load(_ path: String? = nil) throws -> MLCycleData.Table {
        try DataSource.forFile(path ?? data, csvOptions: try reading.csvOptions()).load()
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit a model on part of a table and measure it on the rest.")

    @OptionGroup var input: DataOptions

    @Option(help: "The column to predict (not used for clustering).")
    var target: String?

    @Option(help: "What to learn.")
    var task: Task

    @Option(help: "The learner.")
    var learner: LearnerKind

    @Option(name: .customLong("param"), help: "A hyperparameter as NAME=VALUE (repeatable), e.g. alpha=1 or C=0.5.")
    var parameters: [String] = []

    @Option(help: "A column not to learn from (repeatable), e.g. an ID.")
    var drop: [String] = []

    @Option(help: "Share of rows held out at random for testing.")
    var testFraction: Double = 0.2

    @Option(help: "Test on this file instead of a random part of --data.")
    var test: String?

    @Option(
        help:
            "Test on the rows whose value in this column is 'test' (as `mlcycle prepare` writes in `split`); the rest train."
    )
    var splitColumn: String?

    @Option(
        help:
            "Regression: also fit a calibrated prediction range covering this share of rows (e.g. 0.9); predict then writes lower and upper."
    )
    var range: Double?

    @Option(help: "Seed of the random split.")
    var seed: UInt64 = 42

    @Option(help: "Write the fitted model (JSON) to this file.")
    var out: String?

    @Option(help: "Write the report as JSON to this file ('-' for standard output).")
    var json: String?

    func run() throws {
        try runReportingErrors {
            guard task == .clustering || target != nil else {
                throw ValidationError("--target is needed for a \(task.rawValue) task")
            }
            let params = Dictionary(
                try assignments(parameters, option: "--param"), uniquingKeysWith: { _, last in last })
            var table = try input.load()
            var testTable = try test.map { try input.load($0) }
            if let splitColumn {
                guard testTable == nil else { throw ValidationError("use --test or --split-column, not both") }
                let parts = try Splitter.byColumn(table, column: splitColumn)
                guard parts.test.rowCount > 0 else { throw ValidationError("no row has '\(splitColumn)' = test") }
                (table, testTable) = (parts.train, parts.test)
            }
            let (model, report) = try TrainingRun.run(
                table,
                options: TrainingOptions(
                    target: target ?? "", task: task, learner: learner, parameters: params, drop: drop,
                    testFraction: testFraction, testTable: testTable, seed: seed, range: range))
            if let out { try model.write(to: out) }
            if let json { try emit(try encodeJSON(report), to: json) }
            if json != "-" {
                print(
                    "\(learner) \(task.rawValue)\(report.target.isEmpty ? "" : " on \(report.target)"): \(report.trainRows) training rows, \(report.testRows) test rows"
                        + (report.rowsWithoutTarget > 0
                            ? " (\(report.rowsWithoutTarget) rows without a target left out)" : ""))
                if let positive = report.positiveClass { print("positive class: \(positive)") }
                for (name, value) in report.metrics.sorted(by: { $0.key < $1.key }) {
                    print("  \(cell(name, 14)) \(String(format: "%.6g", value))")
                }
                print(String(format: "  fit %.3f s, predict %.3f s", report.fitSeconds, report.predictSeconds))
                if let out { print("model written to \(out)") }
            }
        }
    }
}

struct Predict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a table with a saved model; one output row per input row.")

    @Option(
        help:
            "A model file written by `mlcycle train --out`, a bundle file, or a registered model NAME[@ALIAS|:VERSION]."
    )
    var model: String

    @OptionGroup var input: DataOptions

    @Option(help: "Write the predictions (CSV) to this file ('-' for standard output).")
    var out: String

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: .hidden) var blockBytes = 32 << 20

    func run() async throws {
        try await runReportingAsyncErrors {
            let scorer = try await BatchScorer.load(model) { try await storeOptions.open() }
            let rows = try await scorer.score(
                file: input.data, csvOptions: try input.reading.csvOptions(), to: out, blockBytes: blockBytes)
            if out != "-", let scoredBy = scorer.scoredBy { print("\(rows) rows scored by \(scoredBy) → \(out)") }
        }
    }
}

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write each row's contributions: why the model answers it as it does.",
        discussion: """
            One output row per input row: explained_class (classification: the class explained, the second for \
            binary, the predicted one for more), expected_value (the model's expected raw output over its training \
            rows), then each input column's contribution; expected_value plus the contributions is the row's raw \
            output (the estimate; log-odds for a binary boosted or logistic model). Tree models by exact TreeSHAP, \
            linear ones as coefficient x (value - training mean); prepared features are credited to the columns \
            they were made from (--per-feature keeps them apart). The file streams through in blocks, each on every \
            core.
            """)

    @Option(
        help:
            "A model file written by `mlcycle train --out`, a bundle file, or a registered model NAME[@ALIAS|:VERSION]."
    )
    var model: String

    @OptionGroup var input: DataOptions

    @Option(help: "Write the contributions (CSV) to this file ('-' for standard output).")
    var out: String

    @Flag(help: "One column per feature the model sees (after preparation) instead of per input column.")
    var perFeature = false

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: .hidden) var blockBytes = 32 << 20

    func run() async throws {
        try await runReportingAsyncErrors {
            let explainer = try await BatchScorer.explaining(model, perFeature: perFeature) {
                try await storeOptions.open()
            }
            let rows = try await explainer.score(
                file: input.data, csvOptions: try input.reading.csvOptions(), to: out, blockBytes: blockBytes)
            if out != "-" { print("\(rows) rows explained\(explainer.scoredBy.map { " by \($0)" } ?? "") → \(out)") }
        }
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model in a format other tools run, with its preparation beside it.",
        discussion: """
            --format lightgbm writes a gradient-boosted model as a LightGBM text model (lightgbm.Booster(model_file=...) \
            loads it and predicts the same raw scores) and, beside it, OUT-without-extension.preparation.json: the \
            model's inputs in order (a categorical one as the index of its value in levels; missing: NaN) and, for a \
            bundle or a registered model, its fitted preparation and what does not travel (range, scope, lookups).             --format onnx writes it as an ONNX model (one ai.onnx.ml tree-ensemble operator; ONNX Runtime runs it)             taking the same inputs as doubles in one tensor named input, with the same preparation file beside it.
            """)

    @Argument(
        help:
            "A model file written by `mlcycle train --out`, a bundle file, or a registered model NAME[@ALIAS|:VERSION]."
    )
    var model: String

    @Option(help: "The format: \(ModelExport.Format.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: ModelExport.Format

    @Option(help: "The file to write.")
    var out: String

    @OptionGroup var storeOptions: StoreOptions

    func run() async throws {
        try await runReportingAsyncErrors {
            let saved = try await SavedModel.load(model) { try await storeOptions.open() }
            let preparation = try ModelExport.write(saved, reference: model, format: format, to: out)
            print("\(model) → \(out) (\(format.rawValue)); its inputs and preparation → \(preparation)")
        }
    }
}

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register a model trained elsewhere as a version: served, monitored, explained and compared.",
        discussion: """
            mlcycle import lightgbm model.txt --name NAME --schema FILE reads a LightGBM text model (Booster.save_model) \
            and registers it as the next version of NAME. The schema file (YAML or JSON) lists the model's inputs in \
            its order, features: [{name, kind: numeric|categorical, levels: [...]}] (category i is levels[i]), and \
            optionally target and labels (a classifier's classes); the preparation.json that mlcycle export writes is \
            one, and brings its preparation along. --data gives rows like the training data: the version's \
            reference statistics (drift, confidence) and, with the target, its evaluation.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case lightgbm }

    @Argument(help: "The model's format: lightgbm.") var format: Format
    @Argument(help: "The model file.") var file: String
    @Option(help: "The registered model's name (a new name, or the next version of one).") var name: String
    @Option(help: "The schema file: the model's inputs, target and classes.") var schema: String
    @Option(
        help: "Rows like the model's training rows (CSV): reference statistics and, with the target, an evaluation.")
    var data: String?
    @OptionGroup var reading: ReadingOptions
    @Option(name: .customLong("as"), help: "Who imports (default: $USER), for the audit log.") var actor: String?
    @OptionGroup var storeOptions: StoreOptions

    func run() async throws {
        try await runReportingAsyncErrors {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let rows = try data.map { try CSVReader.read(path: $0, options: try reading.csvOptions()) }
            let source = (file as NSString).lastPathComponent
            let bundle = try ModelImport.bundle(
                lightgbm: text, schema: try ModelImport.Schema.load(path: schema), name: name, data: rows,
                source: source)
            let version = try await ModelImport.register(
                bundle, source: source, store: try await storeOptions.open(), by: person(actor))
            print(
                "\(file) → \(version.name):\(version.version) (\(bundle.task.rawValue), \(bundle.inputSchema.count) inputs)"
            )
        }
    }
}

struct Prepare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Merge sources, clean, split and transform a table with a pipeline file; statistics come from training rows only."
    )

    @Option(help: "The table to prepare (optional when the pipeline lists its own sources).")
    var data: String?

    @OptionGroup var reading: ReadingOptions

    @Option(help: "A pipeline file (YAML: sources, steps, split).")
    var pipeline: String?

    @Option(
        help:
            "Apply this fitted pipeline (from --fitted) instead of fitting one: every row is transformed, none dropped."
    )
    var apply: String?

    @Option(help: "The target column (needed for target encoding; never transformed).")
    var target: String?

    @Option(
        help:
            "Write the prepared rows (CSV, with a `split` column when the pipeline splits) to this file ('-' for standard output)."
    )
    var out: String

    @Option(help: "Write the fitted pipeline (JSON) to this file.")
    var fitted: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            let main = try data.map { try DataSource.forFile($0, csvOptions: try reading.csvOptions()).load() }
            if let apply {
                guard let bytes = FileManager.default.contents(atPath: apply) else {
                    throw DataError.fileNotFound(path: apply)
                }
                guard let main else { throw ValidationError("--apply needs --data: the rows to transform") }
                let prepared = try FittedPipeline.decode(bytes, path: apply).transform(main, serving: true)
                try emit(Data(CSVWriter.string(prepared.table).utf8), to: out)
                for (row, reasons) in prepared.rowIssues.sorted(by: { $0.key < $1.key }).prefix(20) {
                    FileHandle.standardError.write(Data("row \(row + 1): \(reasons.joined(separator: "; "))\n".utf8))
                }
                return
            }
            guard let pipeline else {
                throw ValidationError("name a pipeline file with --pipeline (or a fitted one with --apply)")
            }
            let spec = try PipelineFile.load(path: pipeline)
            let directory = (pipeline as NSString).deletingLastPathComponent
            let result = try PreparationRun.run(
                spec, directory: directory.isEmpty ? "." : directory, main: main, target: target,
                reader: PipelineFile.reader(databaseTables: try await PipelineFile.readDatabaseSources(spec)))
            try emit(Data(CSVWriter.string(result.table).utf8), to: out)
            if let fitted { try emit(try result.pipeline.jsonData(), to: fitted) }
            if out != "-" {
                var parts = [String]()
                if let split = result.table["split"] {
                    var counts = [String: Int]()
                    for r in 0..<split.count { counts[split[r].description, default: 0] += 1 }
                    parts = ["train", "validation", "test"].compactMap { p in counts[p].map { "\($0) \(p)" } }
                }
                print(
                    "\(result.collected.rowCount) rows collected → \(result.table.rowCount) prepared (\(parts.joined(separator: ", "))), \(result.table.columnCount) columns → \(out)"
                )
            }
        }
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Judge a model on labelled rows: metrics, slices, fairness, importance, comparison, gates; exit 1 when a gate fails."
    )

    @Option(help: "A model file written by `mlcycle train --out`.")
    var model: String

    @OptionGroup var input: DataOptions

    @Option(help: "The target column.")
    var target: String

    @Option(
        help: "Slice results by a column: COL (categories, or quintiles of a number) or COL:EDGE,EDGE,… (repeatable).")
    var slice: [String] = []

    @Option(help: "Compare the metric and the bias across the groups of a column (repeatable).")
    var group: [String] = []

    @Option(help: "A YAML file of gate rules (`gates: [\"within_10pct >= 0.80\", …]`).")
    var gates: String?

    @Option(help: "A gate rule (repeatable), e.g. 'mape <= 0.10' or 'auc >= baseline + 0.02'.")
    var gate: [String] = []

    @Option(help: "A baseline model compared on the same rows (paired bootstrap).")
    var baseline: String?

    @Option(help: "The current champion, compared the same way.")
    var champion: String?

    @Option(help: "Binary: choose the threshold reaching this precision with the most recall.")
    var targetPrecision: Double?

    @Option(help: "Binary: choose the highest threshold reaching this recall.")
    var targetRecall: Double?

    @Option(help: "Lower and upper quantile models: their range's coverage is reported.")
    var lower: String?
    @Option(help: "See --lower.")
    var upper: String?

    @Option(help: "Binary: the positive class (default: the minority class of the data).")
    var positive: String?

    @Option(help: "The metric slices, groups and importances are ranked by (default: mape, or logloss for classes).")
    var metric: String?

    @Option(help: "Binary: predict positive at this probability or above.")
    var threshold: Double = 0.5

    @Option(help: "Seed of the shuffles and bootstrap samples.")
    var seed: UInt64 = 42

    @Option(help: "Write the report as JSON to this file ('-' for standard output).")
    var json: String?

    @Option(help: "Write the HTML evaluation report to this file.")
    var html: String?

    func run() throws {
        var failed = false
        try runReportingErrors {
            let file = try ModelFile.load(path: model)
            let table = try input.load()
            var options = EvaluationOptions(target: target)
            options.slices = try slice.map { try SliceSpec(parsing: $0) }
            options.groups = group
            options.gates = try (gates.map { try GateFile.load(path: $0) } ?? []) + gate
            options.baseline = try baseline.map { try ModelFile.load(path: $0) }
            options.champion = try champion.map { try ModelFile.load(path: $0) }
            options.targetPrecision = targetPrecision
            options.targetRecall = targetRecall
            options.lower = try lower.map { try ModelFile.load(path: $0) }
            options.upper = try upper.map { try ModelFile.load(path: $0) }
            options.positive = positive
            options.metric = metric
            options.threshold = threshold
            options.seed = seed
            let report = try Evaluation.run(model: file, data: table, options: options)
            if let json { try emit(try encodeJSON(report), to: json) }
            if let html {
                try emit(
                    Data(EvaluationReportPage.html(report, title: "\(file.learner) on \(input.data)").utf8), to: html)
            }
            if json != "-" { print(EvaluationReportPage.text(report)) }
            failed = !report.passed
        }
        if failed { throw ExitCode(1) }
    }
}

struct Tune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search hyperparameters by cross-validation and print a leaderboard.")

    @OptionGroup var input: DataOptions

    @Option(help: "The column to predict (not used for clustering).")
    var target: String?

    @Option(help: "What to learn.")
    var task: Task

    @Option(help: "The learner.")
    var learner: LearnerKind

    @Option(help: "A parameter and its candidate values, as NAME=V1,V2,… (repeatable).")
    var space: [String] = []

    @Option(help: "grid (every combination) or random (draws from the grid).")
    var search: TuningOptions.Search = .grid

    @Option(help: "At most this many candidates (random search draws this many; default 10).")
    var trials: Int?

    @Option(help: "Start no new candidate after this many seconds.")
    var timeBudget: Double?

    @Option(help: "k-fold cross-validation (0 or 1: one 20 % validation split).")
    var folds: Int = 5

    @Option(help: "The metric to rank by (default rmse, or logloss for classification).")
    var metric: String?

    @Option(help: "A column not to learn from (repeatable).")
    var drop: [String] = []

    @Option(help: "Seed of the folds and of random search.")
    var seed: UInt64 = 42

    @Option(help: "Write the leaderboard as JSON to this file ('-' for standard output).")
    var json: String?

    @Flag(
        help:
            "Queue the candidates on the store for `mlcycle worker` processes (on this machine or others) and wait for their scores; the leaderboard is the local search's."
    )
    var distributed = false

    @OptionGroup var storeOptions: StoreOptions

    func run() async throws {
        try await runReportingAsyncErrors {
            guard task == .clustering || target != nil else {
                throw ValidationError("--target is needed for a \(task.rawValue) task")
            }
            var grid = [String: [String]]()
            for (name, values) in try assignments(space, option: "--space", form: "NAME=V1,V2,…") {
                guard !values.isEmpty else { throw ValidationError("--space takes NAME=V1,V2,…, got '\(name)='") }
                grid[name] = values.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            guard !grid.isEmpty else {
                throw ValidationError(
                    "the search space is empty; give each parameter at least one value (--space num_leaves=15,31,63)")
            }
            let options = TuningOptions(
                target: target ?? "", task: task, learner: learner, space: grid, search: search, trials: trials,
                timeBudget: timeBudget, folds: folds, metric: metric, drop: drop, seed: seed)
            let board: [LeaderboardEntry]
            if distributed {
                guard timeBudget == nil else {
                    throw ValidationError("--time-budget is for a local search; limit a distributed one with --trials")
                }
                let store = try await storeOptions.open()
                board = try await DistributedTuning.run(try input.load(), options: options, store: store) { p in
                    FileHandle.standardError.write(
                        Data(
                            "tune: \(p.batch): \(p.done)/\(p.total) candidates scored, \(p.running) being scored\n".utf8
                        ))
                }
            } else {
                board = try Tuning.run(try input.load(), options: options)
            }
            if let json { try emit(try encodeJSON(board), to: json) }
            if json != "-" {
                for e in board {
                    let params = e.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                        separator: " ")
                    print(
                        String(
                            format: "%3d  %@ %.6g ± %.3g  (fit %.2f s)  ", e.rank, e.metric, e.mean, e.std, e.fitSeconds
                        ) + params)
                }
            }
        }
    }
}

/// `mlcycle worker`: does the store's queued work.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract:
            "Do the store's queued work (tuning trials of `mlcycle tune --distributed` and `mlcycle run --workers`, retrainings of `mlcycle watch --retrain-on-workers`) until stopped.",
        discussion: """
            Run as many workers as there are machines (or cores to spare) on the store everyone uses. A worker claims \
            one item at a time under a lease it renews while it works; a worker that is killed stops renewing, and \
            once its lease runs out another worker takes the item again (an item is tried at most \(WorkItem.maximumAttempts) \
            times). A retraining reads the project's files from the folder the watcher named: give every worker the \
            same path (a shared volume or the same checkout).
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "Seconds a claimed item stays this worker's without a renewal (renewed every third of it).")
    var lease: Double = 30

    @Option(help: "Stop after this many seconds with nothing to do (default: run until stopped).")
    var idleExit: Double?

    @Option(help: "This worker's name in the queue (default: HOST:PID).")
    var name: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            guard lease >= 1 else { throw ValidationError("--lease must be at least 1 second, got \(lease)") }
            let store = try await storeOptions.open()
            // Unbuffered lines: a worker's output is usually a log file or a container's log.
            let say: @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
            let worker = Worker(store: store, name: name, lease: lease) { say("worker: \($0)") }
            say("worker \(worker.name): waiting for work on \(try storeOptions.location().description)")
            let done = try await worker.run(idleExit: idleExit)
            say("worker \(worker.name): \(done) items done, idle for \(idleExit ?? 0) s: stopping")
        }
    }
}

/// `mlcycle store …`: the store as a whole.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Work on a store as a whole.", subcommands: [StoreCopyCommand.self])
}

/// `mlcycle store copy`: a laptop's store into the team's.
struct StoreCopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a SQLite store (a folder) into a PostgreSQL store, every record and artefact, then verify it.",
        discussion: """
            Runs, metrics, logs, datasets, models, aliases, releases, the audit log, the prediction log, feedback, \
            alerts and artefacts keep their numbers and times. Into an empty database, or one holding an earlier copy \
            of the same store (repeating a copy copies only what is new); a database with records of another store \
            is refused before anything is written. Each table is then compared: row counts and the SHA-256 of its \
            rows must be the same on both sides.
            """)

    @Option(help: ArgumentHelp("The store to copy: a folder (SQLite), e.g. .mlcycle.", valueName: "folder"))
    var from: String

    @Option(help: ArgumentHelp("The store to copy into: postgres://USER@HOST:PORT/DATABASE.", valueName: "url"))
    var to: String

    func run() async throws {
        try await runReportingAsyncErrors {
            guard case .folder(let folder) = try StoreLocation(from) else {
                throw ValidationError("--from takes a store folder (SQLite), got \(PostgresURL.redacted(from))")
            }
            guard FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("store.sqlite"))
            else { throw ValidationError("--from: no store in \(folder) (no store.sqlite)") }
            guard case .postgres(let url) = try StoreLocation(to) else {
                throw ValidationError("--to takes a postgres:// URL, got \(to)")
            }
            let source = try SQLiteStore(directory: folder)
            let target = try await PostgresStore(url: url)
            defer { target.close() }
            let report = try await StoreCopy.copy(from: source, to: target) { print("  \($0)") }
            for table in report.tables {
                print("\(table.name): \(table.rows) rows, \(table.copied) copied, sha256 \(table.sha256.prefix(12))…")
            }
            print(
                "copied \(folder) into \(target.location): \(report.artifactsCopied) artefacts copied (\(report.artifactsPresent) there already); every table verified (row counts and SHA-256 equal)"
            )
        }
    }
}

// MARK: The project lifecycle and the registry

/// `--store LOCATION`: a folder (SQLite) or a postgres:// URL; else `MLCYCLE_STORE`, else mlcycle.yaml's `store:`,
/// else `.mlcycle/` in the project directory.
struct StoreOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The store: a folder (SQLite) or postgres://USER@HOST:PORT/DATABASE (default: $MLCYCLE_STORE, else the project's store:, else .mlcycle in the project directory).",
            valueName: "location"))
    var store: String?

    /// Where the store is, for a command working on the project in `directory`.
    func location(_ directory: String = ".") throws -> StoreLocation {
        if let store { return try StoreLocation(store) }
        if let text = ProcessInfo.processInfo.environment["MLCYCLE_STORE"], !text.isEmpty {
            return try StoreLocation(text)
        }
        if let text = try ProjectFile.storeSetting(in: directory) {
            return try StoreLocation(text, relativeTo: directory)
        }
        return .folder((directory as NSString).appendingPathComponent(".mlcycle"))
    }

    func open(_ directory: String = ".") async throws -> any Store {
        try await location(directory).open()
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run a project (mlcycle.yaml): collect → validate → profile → prepare → train → evaluate → register; unchanged stages are reused."
    )

    @Argument(help: "The project directory (holding mlcycle.yaml).")
    var directory: String = "."

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "Run this stage and every later one even if their inputs did not change.")
    var from: Stage?

    @Flag(help: "Print nothing but errors.")
    var quiet = false

    @Option(help: "Write the run summary as JSON to this file ('-' for standard output).")
    var json: String?

    @Option(
        help:
            "Queue the candidates' tuning trials on the store for `mlcycle worker` processes, starting this many on this machine for the run (0: only workers started elsewhere on the store); the scores are a local run's."
    )
    var workers: Int?

    func run() async throws {
        try await runReportingAsyncErrors {
            let spec = try projectSpec(directory)
            let store = try await storeOptions.open(directory)
            if let workers, workers < 0 { throw ValidationError("--workers takes 0 or more, got \(workers)") }
            let started = try startWorkers(workers ?? 0, store: try storeOptions.location(directory))
            defer { for worker in started where worker.isRunning { worker.terminate() } }
            let chatty = !quiet && json != "-"
            if chatty { print("\(spec.problem.name): \(spec.problem.goal ?? spec.problem.task.rawValue)") }
            // On a terminal, a counter line for long stages is rewritten in place and cleared by the stage's own line.
            let live = chatty && isatty(STDOUT_FILENO) == 1
            let runner = Runner(
                spec: spec, directory: directory, store: store, from: from,
                progress: { line in
                    if chatty { print((live ? "\r\u{1B}[K" : "") + "  " + line) }
                })
            if live {
                runner.counter = { text in FileHandle.standardOutput.write(Data(("\r\u{1B}[K  " + text + " …").utf8)) }
            }
            runner.trialsOnWorkers = workers != nil
            let summary = try await runner.run()
            if let json { try emit(try encodeJSON(summary), to: json) }
            // A chosen model that fails a gate ends the run with exit code 3, so a CI/CD job can stop on it.
            if chatty { Self.printSummary(summary, task: spec.problem.task) }
            if summary.passed == false { throw ExitCode(3) }
        }
    }

    /// `count` worker processes of this binary on `store` (given through the environment, so a password stays out of
    /// the process list); they are stopped when the run ends, and stop by themselves a minute after it if it dies.
    func startWorkers(_ count: Int, store: StoreLocation) throws -> [Process] {
        let location: String
        switch store {
        case .folder(let folder): location = URL(fileURLWithPath: folder).standardizedFileURL.path
        case .postgres(let url): location = url
        }
        return try (0..<count).map { index in
            let worker = Process()
            worker.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            worker.arguments = ["worker", "--idle-exit", "60", "--name", "run-\(getpid())-\(index + 1)"]
            worker.environment = ProcessInfo.processInfo.environment.merging(["MLCYCLE_STORE": location]) { _, b in b }
            worker.standardOutput = FileHandle.nullDevice
            worker.standardError = FileHandle.nullDevice
            try worker.run()
            return worker
        }
    }

    /// The leaderboard, the gates, the verdict and the stages, as a person reads them.
    static func printSummary(_ summary: RunSummary, task: Task) {
        let judge =
            summary.selection.map {
                $0.method == .cv
                    ? "\($0.folds ?? 0)-fold cross-validation on \($0.rows) training rows"
                    : "\($0.rows) validation rows"
            } ?? "validation rows"
        print("\nleaderboard (\(judge), ranked by \(summary.rankingMetric)):")
        let extra = task == .regression ? "within_10pct" : "auc"
        print(
            "  \(cell("candidate", 12)) \(cell("learner", 8)) \(cell(summary.rankingMetric, 10)) \(cell(extra, 12)) fit s"
        )
        for c in summary.leaderboard {
            print(
                "  \(cell(c.name, 12)) \(cell(c.learner.rawValue, 8)) \(cell(String(format: "%.4f", c.metrics[summary.rankingMetric] ?? .nan), 10)) \(cell(String(format: "%.4f", c.metrics[extra] ?? .nan), 12)) \(String(format: "%.2f", c.fitSeconds))"
            )
        }
        if let s = summary.selection {
            // With rules on the answer, the gates judge the test rows whose estimate is in scope.
            let outside = summary.registered?.metrics["review_share"].map { Int(($0 * Double(s.testRows)).rounded()) }
            let judged =
                outside.map { "\(s.testRows - $0) of \(s.testRows) test rows, the \($0) others answered for review" }
                ?? "\(s.testRows) test rows"
            print("\ngates for \(summary.chosen ?? "?") (fitted on \(s.fittedOn) rows, judged on \(judged)):")
        } else {
            print("\ngates for \(summary.chosen ?? "?"):")
        }
        for g in summary.gates { print("  \(g.passed ? "✔" : "✘") \(g.rule): \(g.reason)") }
        if let v = summary.registered {
            print(
                "\nverdict: \(summary.passed == true ? "passes every gate" : "fails a gate — registered as \(v.name) v\(v.version), not promotable")"
            )
            if let alias = summary.alias { print("registered \(v.name) v\(v.version) as \(alias)") }
        }
        if let report = summary.report { print("report: \(report)") }
        let timings = summary.stages.map {
            "\($0.stage.rawValue) \($0.status == "cached" ? "cached" : String(format: "%.1fs", $0.seconds))"
        }
        print("stages: " + timings.joined(separator: ", "))
    }
}

struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recent runs (newest first).")
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Only this project's runs.") var project: String?
    @Option(help: "How many.") var limit = 30
    @Option(help: "Write JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            let runs = try await storeOptions.open().runs(project: project, limit: limit)
            if let json {
                try emit(try encodeJSON(runs), to: json)
                if json == "-" { return }
            }
            for r in runs {
                let seconds = r.ended.map { String(format: "%.1f s", $0.timeIntervalSince(r.started)) } ?? "-"
                print(
                    "\(cell(String(r.id), 6)) \(cell(r.project, 16)) \(cell(r.stage, 9)) \(cell(r.status.rawValue, 9)) \(cell(seconds, 9)) \(r.params["candidate"] ?? "")"
                )
            }
        }
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one run: parameters, metrics, outputs and log.")
    @Argument(help: "The run id.") var id: Int64
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Write JSON to this file ('-' for standard output).") var json: String?

    struct Output: Encodable {
        var run: RunRecord
        var metrics: [MetricPoint]
        var log: [String]
    }

    func run() async throws {
        try await runReportingAsyncErrors {
            let store = try await storeOptions.open()
            guard let r = try await store.run(id) else { throw StoreError.notFound("run \(id)") }
            let output = Output(run: r, metrics: try await store.metrics(run: id), log: try await store.logs(run: id))
            if let json {
                try emit(try encodeJSON(output), to: json)
                if json == "-" { return }
            }
            print(
                "run \(r.id): \(r.project) \(r.stage), \(r.status.rawValue); mlcycle \(r.mlcycleVersion) on \(r.host)\(r.gitCommit.map { ", git \($0.prefix(12))" } ?? "")"
            )
            print("inputs \(r.inputHash.prefix(16))…, spec \(r.specHash?.prefix(16) ?? "-")")
            for (k, v) in r.params.sorted(by: { $0.key < $1.key }) { print("  param \(k) = \(v)") }
            for m in output.metrics { print("  metric \(m.name)[\(m.step)] = \(m.value)") }
            for (k, v) in r.outputs.sorted(by: { $0.key < $1.key }) { print("  output \(k) = \(v)") }
            for line in output.log { print("  log: \(line)") }
        }
    }
}

struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List registered models: each version (number, created, gates, metric) and the aliases on it.")
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Write JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            let models = try await ModelRegistry(store: try storeOptions.open()).models()
            if let json {
                try emit(try encodeJSON(models), to: json)
                if json == "-" { return }
            }
            let time = DateFormatter()
            time.dateFormat = "yyyy-MM-dd HH:mm"
            time.timeZone = TimeZone(identifier: "UTC")
            for model in models {
                let n = model.versions.count
                let aliases = model.aliases.sorted { $0.key < $1.key }.map { "\($0.key) → v\($0.value)" }
                print(
                    "\(model.name): \(n) version\(n == 1 ? "" : "s")\(aliases.isEmpty ? "" : "; ")\(aliases.joined(separator: ", "))"
                )
                for v in model.versions {
                    // The metric a reader looks for first, of those the version has.
                    let metric = ["mape", "rmse", "logloss", "auc", "inertia"].first { v.metrics[$0] != nil }
                    print(
                        "  \(cell("v\(v.version)", 5)) \(time.string(from: v.created)) UTC  "
                            + "\(cell(v.gatesPassed ? "gates passed" : "gates failed", 12))  "
                            + "\(cell(metric.map { "\($0) \(String(format: "%.4g", v.metrics[$0] ?? .nan))" } ?? "", 16)) "
                            + v.aliases.joined(separator: ", "))
                }
            }
        }
    }
}

/// A registered model by reference (`NAME`, `NAME@ALIAS`, `NAME:VERSION`).
func resolveModel(_ reference: String, in store: Store) async throws -> ModelVersion {
    try await ModelRegistry(store: store).resolve(reference)
}

/// The person running the command: `--as NAME`, or $USER.
func person(_ named: String?) -> RegistryActor {
    .person(named ?? ProcessInfo.processInfo.environment["USER"] ?? "mlcycle")
}

/// The registry of a store, with the approvers of the project in `directory` when it holds an mlcycle.yaml.
func registry(_ store: Store, project directory: String) throws -> ModelRegistry {
    ModelRegistry(store: store, approvers: try projectSpecIfPresent(directory)?.release.approvers ?? [])
}

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Show a model version: NAME[@ALIAS|:VERSION].")
    @Argument(help: "NAME, NAME@ALIAS or NAME:VERSION.") var reference: String
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Write JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            let store = try await storeOptions.open()
            let v = try await resolveModel(reference, in: store)
            if let json {
                try emit(try encodeJSON(v), to: json)
                if json == "-" { return }
            }
            let aliases = try await store.aliases(v.name).filter { $0.value == v.version }.keys.sorted()
            print(
                "\(v.name) v\(v.version)\(aliases.isEmpty ? "" : " (\(aliases.joined(separator: ", ")))"): gates \(v.gatesPassed ? "passed" : "failed")"
            )
            for (k, x) in v.metrics.sorted(by: { $0.key < $1.key }) {
                print("  \(cell(k, 14)) \(String(format: "%.6g", x))")
            }
            for g in v.gates { print("  \(g)") }
            print("bundle \(v.bundle), run \(v.run.map(String.init) ?? "-")")
        }
    }
}

struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Point an alias (default champion) at a model version; refused when its gates failed.")
    @Argument(help: "NAME:VERSION.") var reference: String
    @Option(help: "The alias.") var to = "champion"
    @Option(help: "Why (kept in the audit log).") var reason: String
    @Flag(
        help:
            "Promote a version that failed its gates: a person's decision, kept in the audit log as such with the reason."
    )
    var overrideGates = false
    @Option(
        name: .customLong("as"),
        help: "Who promotes (default: $USER); must be among release.approvers when the spec lists them.") var actor:
        String?
    @Option(help: "The project directory (its mlcycle.yaml lists the approvers).") var project = "."
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Write {name, alias, version} as JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            let registry = try await registry(try storeOptions.open(project), project: project)
            let move = try await registry.promote(
                try await registry.resolve(reference), to: to, by: person(actor), reason: reason,
                overrideGates: overrideGates
            )
            if let json { try emit(try encodeJSON(move), to: json) }
            if json != "-" { print("\(move.name) \(move.alias) → v\(move.version)") }
        }
    }
}

struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Point an alias (default champion) back at the version it had before its last move.")
    @Argument(help: "The model name.") var name: String
    @Option(help: "The alias.") var alias = "champion"
    @Option(help: "Why (kept in the audit log).") var reason = "rollback"
    @Option(name: .customLong("as"), help: "Who rolls back (default: $USER).") var actor: String?
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Write {name, alias, version} as JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            let move = try await ModelRegistry(store: try storeOptions.open()).rollback(
                name, alias: alias, by: person(actor), reason: reason)
            if let json { try emit(try encodeJSON(move), to: json) }
            if json != "-" { print("\(move.name) \(move.alias) → v\(move.version)") }
        }
    }
}

struct Lineage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Trace a model version back to its data and run: dataset → run → model, with hashes.")
    @Argument(help: "NAME[@ALIAS|:VERSION].") var reference: String
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Write JSON to this file ('-' for standard output).") var json: String?

    struct Output: Encodable {
        var model: ModelVersion
        var run: RunRecord?
        var datasets: [DatasetSnapshot]
        var audit: [AuditEntry]
    }

    func run() async throws {
        try await runReportingAsyncErrors {
            let store = try await storeOptions.open()
            let v = try await resolveModel(reference, in: store)
            var datasets = [DatasetSnapshot]()
            for fingerprint in v.datasets {
                if let d = try await store.dataset(fingerprint: fingerprint) { datasets.append(d) }
            }
            var run: RunRecord?
            if let id = v.run { run = try await store.run(id) }
            let output = Output(
                model: v, run: run, datasets: datasets,
                audit: try await store.audit(model: v.name).filter { $0.version == v.version })
            if let json {
                try emit(try encodeJSON(output), to: json)
                if json == "-" { return }
            }
            for d in output.datasets {
                print("dataset \(d.fingerprint)  \(d.rows) rows from \(d.sources.joined(separator: ", "))")
            }
            if let r = output.run {
                print(
                    "  → run \(r.id) (\(r.stage)) spec \(r.specHash ?? "-"), git \(r.gitCommit ?? "-"), mlcycle \(r.mlcycleVersion)"
                )
            }
            print("  → model \(v.name) v\(v.version), bundle \(v.bundle)")
            for a in output.audit { print("  audit: \(a.action) by \(a.actor): \(a.reason)") }
        }
    }
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the evaluation report (HTML) of a registered model version.")
    @Argument(help: "NAME[@ALIAS|:VERSION].") var reference: String
    @Option(help: "The HTML file to write.") var html: String
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Write the version's evaluation as JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            let store = try await storeOptions.open()
            let v = try await resolveModel(reference, in: store)
            let bundle = try ModelBundle.decode(try await store.artifact(v.bundle), path: "\(v.name) v\(v.version)")
            guard let evaluation = bundle.evaluation else {
                throw StoreError.invalid("\(v.name) v\(v.version) has no evaluation in its bundle")
            }
            try emit(Data(EvaluationReportPage.html(evaluation, title: "\(v.name) v\(v.version)").utf8), to: html)
            if let json { try emit(try encodeJSON(evaluation), to: json) }
            if html != "-" && json != "-" { print("report of \(v.name) v\(v.version) → \(html)") }
        }
    }
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a project: a commented mlcycle.yaml and a sample of data that runs as is.")
    @Argument(help: "The new project's directory.") var directory: String
    @Option(help: "The kind of project to start from.") var template: ProjectTemplate = .regression

    func run() throws {
        try runReportingErrors {
            let written = try template.write(to: directory)
            print("wrote \(written.joined(separator: ", ")) in \(directory); next: mlcycle run \(directory)")
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Serve registered models (by alias, default champion) or one bundle over HTTP: /v1/models/{name}/predict, /health, /ready, /metrics."
    )

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "A model to serve, NAME or NAME@ALIAS (repeatable; default: every registered model's champion).")
    var model: [String] = []

    @Option(help: "Serve this bundle file instead of the store's models.")
    var bundle: String?

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on.")
    var port = 8080

    @Option(
        help:
            "The project directory whose mlcycle.yaml gives the monitoring window and alert rules of the UI's monitoring pages (/ui/monitoring/{model}) and the approvers of its actions."
    )
    var project: String?

    @Flag(
        help:
            "Log each native prediction at the time its X-MLCycle-Time header gives (for mlcycle replay); without it the header is refused."
    )
    var replayClock = false

    @Flag(help: "Log every request (method, path, status) to standard error.")
    var logRequests = false

    @Option(
        help:
            "Rows the prediction log hands straight to the store in one cycle (every 50 ms); more are put in the spool first and drained after."
    )
    var logDirectLimit = 20_000

    func run() async throws {
        let catalog: ModelCatalog
        var log: PredictionLog?
        var ui: (store: any Store, label: String, spec: ProjectSpec?)?
        do {
            if let bundle {
                catalog = try ModelCatalog(bundlePath: bundle)
            } else {
                let location = try storeOptions.location(project ?? ".")
                let store = try await location.open()
                catalog = ModelCatalog(store: store, models: try ModelCatalog.aliases(model))
                // Rows the store cannot take at once wait in a spool on this machine (drained first after a
                // restart): beside a folder store, or in the project's .mlcycle/ for a database.
                let spoolFolder: String
                if case .folder(let path) = location {
                    spoolFolder = path
                } else {
                    spoolFolder = ((project ?? ".") as NSString).appendingPathComponent(".mlcycle")
                }
                log = PredictionLog(
                    store: store, spool: try PredictionLog.spool(in: spoolFolder), directLimit: max(1, logDirectLimit))
                ui = (store, location.description, try project.map { try projectSpec($0) })
            }
        } catch {
            throw reported(error)
        }
        var server = ModelServer(catalog: catalog, log: log)
        server.approvers = ui?.spec?.release.approvers ?? []
        // Tokens come from the environment (or a file named there), never from the command line, where `ps` shows them.
        server.readTokens()
        if let ui {
            // The UI at /ui (monitoring there checks alerts but never stores or sends them: `mlcycle monitor` does).
            var pages = try webUI(store: ui.store, label: ui.label, spec: ui.spec, tokens: server.tokens)
            pages.afterMove = { catalog.invalidate() }
            server.webUI = pages
        }
        server.replayClock = replayClock
        server.logRequests = logRequests
        MetricsSystem.bootstrap(server.metrics.metricsFactory())
        print(
            "serving \(await (try? catalog.names())?.joined(separator: ", ") ?? "") on http://\(host):\(port)"
                + (server.tokens.admin == nil ? " (admin endpoints off: set MLCYCLE_ADMIN_TOKEN)" : ""))
        try await server.run(host: host, port: port)
    }
}
