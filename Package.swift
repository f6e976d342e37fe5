// swift-tools-version: 6.1
// mlcycle: the machine-learning lifecycle in one Swift binary. Layout and rules: docs/architecture.md.
import PackageDescription

let package = Package(
    name: "mlcycle",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mlcycle", targets: ["mlcycle"]),
        .library(name: "MLCycleData", targets: ["MLCycleData"]),
        .library(name: "MLCycleQuality", targets: ["MLCycleQuality"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.0"),
    ],
    targets: [
        // Core: no server, database or YAML package (docs/architecture.md); hashing is swift-crypto's, the deque
        // swift-collections'.
        .target(
            name: "MLCycleData",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]),
        .target(name: "MLCycleQuality", dependencies: ["MLCycleData"]),
        .target(name: "MLCyclePrep", dependencies: ["MLCycleData"]),
        .target(name: "MLCycleLearn", dependencies: ["MLCycleData", "CPrefetch"]),
        // A cache prefetch hint for the learners' gather loops (Swift has no intrinsic for it).
        .target(name: "CPrefetch"),
        // Metrics (scikit-learn's definitions) and slicing: shared by evaluation and monitoring, free of learners.
        .target(name: "MLCycleMetrics", dependencies: ["MLCycleData"]),
        .target(
            name: "MLCycleEvaluate",
            dependencies: ["MLCycleData", "MLCycleMetrics", "MLCycleQuality", "MLCyclePrep", "MLCycleLearn"]),
        .target(name: "MLCycleMonitor", dependencies: ["MLCycleData", "MLCycleMetrics", "MLCycleQuality"]),
        // ONNX export: the ONNX format's Swift types (generated once from its proto, committed) and the writer.
        .target(
            name: "MLCycleONNX",
            dependencies: ["MLCycleLearn", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["proto"]),
        .target(
            name: "MLCycleReport",
            dependencies: [
                "MLCycleData", "MLCycleQuality", "MLCycleLearn", "MLCycleMetrics", "MLCycleEvaluate", "MLCycleMonitor",
            ]),
        // Integrations: the only targets that may import a database driver, a server or a YAML parser.
        // The model server (Hummingbird 2).
        .target(
            name: "MLCycleServe",
            dependencies: [
                "MLCycleData", "MLCyclePrep", "MLCycleLearn", "MLCycleEvaluate", "MLCycleStore", "MLCycleSources",
                "MLCycleUI", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The HTTP API's description, a checked JSON file compiled into the binary (no bundle beside it).
            resources: [.embedInCode("openapi.json")]),
        // The web UI (Hummingbird routes, swift-mustache templates; the templates, CSS and script built into the binary).
        .target(
            name: "MLCycleUI",
            dependencies: [
                "MLCycleData", "MLCycleQuality", "MLCycleEvaluate", "MLCycleStore", "MLCycleReport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.embedInCode("Templates"), .embedInCode("Static")]),
        // The stores: SQLite (GRDB, embedded) and PostgreSQL (postgres-nio, the team's).
        .target(
            name: "MLCycleStore",
            dependencies: [
                "MLCycleData", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "MLCycleSources",
            dependencies: [
                "MLCycleData", "MLCyclePrep", "MLCycleStore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "MLCycleProject",
            dependencies: [
                "MLCycleData", "MLCycleQuality", "MLCyclePrep", "MLCycleLearn", "MLCycleMetrics", "MLCycleEvaluate",
                "MLCycleReport", "MLCycleStore", "MLCycleONNX",
                "MLCycleSources", "MLCycleMonitor", .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
            ]),
        // The CLI: thin commands over the libraries (plus one C call to tune glibc's allocator).
        .target(name: "CMallocTuning"),
        .executableTarget(
            name: "mlcycle",
            dependencies: [
                "CMallocTuning",
                "MLCycleData", "MLCycleQuality", "MLCycleReport", "MLCycleSources", "MLCycleProject",
                "MLCycleLearn", "MLCycleMetrics", "MLCycleEvaluate", "MLCyclePrep", "MLCycleStore", "MLCycleServe",
                "MLCycleMonitor", "MLCycleUI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        .testTarget(
            name: "MLCycleDataTests",
            dependencies: [
                "MLCycleData", "MLCyclePrep", "MLCycleSources", "MLCycleStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]),
        .testTarget(
            name: "MLCycleQualityTests",
            dependencies: ["MLCycleData", "MLCycleQuality", "MLCycleReport", "MLCycleProject"]),
        .testTarget(
            name: "MLCycleLearnTests",
            dependencies: [
                "MLCycleData", "MLCycleLearn", "MLCycleMetrics", "MLCycleEvaluate", "MLCycleONNX",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .testTarget(
            name: "MLCycleEvaluateTests",
            dependencies: [
                "MLCycleData", "MLCycleLearn", "MLCycleMetrics", "MLCycleEvaluate", "MLCyclePrep", "MLCycleProject",
                "MLCycleReport",
            ]),
        .testTarget(
            name: "MLCycleServeTests",
            dependencies: [
                "MLCycleData", "MLCycleEvaluate", "MLCycleMonitor", "MLCycleStore", "MLCycleServe", "MLCycleProject",
                "MLCycleSources", "MLCycleUI", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),
        .testTarget(
            name: "MLCycleStoreTests",
            dependencies: [
                "MLCycleData", "MLCycleStore", "MLCycleMonitor", "MLCycleProject",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "MLCyclePrepTests", dependencies: ["MLCycleData", "MLCyclePrep", "MLCycleProject"]),
        .testTarget(
            name: "MLCycleProjectTests",
            dependencies: [
                "MLCycleData", "MLCycleQuality", "MLCyclePrep", "MLCycleLearn", "MLCycleEvaluate", "MLCycleMonitor",
                "MLCycleProject", "MLCycleStore", "MLCycleMetrics",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "MLCycleMonitorTests",
            dependencies: [
                "MLCycleData", "MLCycleQuality", "MLCycleMetrics", "MLCycleEvaluate", "MLCycleMonitor", "MLCycleReport",
            ]),
        .testTarget(
            name: "MLCycleUITests",
            dependencies: [
                "MLCycleUI", "MLCycleStore", "MLCycleProject",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .testTarget(
            name: "MLCycleCLITests",
            dependencies: ["mlcycle", "MLCycleStore", .product(name: "PostgresNIO", package: "postgres-nio")]),
    ]
)

// Every file imports the modules whose members it uses (not only those some other file happened to import).
for target in package.targets where !target.name.hasPrefix("C") {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("MemberImportVisibility")]
}

// Fuzzing (Tests/Fuzz/README.md): with MLCYCLE_FUZZ=1 the package adds a libFuzzer target per parser and builds
// mlcycle's own modules with coverage and AddressSanitizer (bash Tests/Fuzz/run.sh). Dependencies stay as they are.
if Context.environment["MLCYCLE_FUZZ"] == "1" {
    // Swift has no UndefinedBehaviorSanitizer: its own checks (overflow, bounds, unwrapping) trap in every build. The
    // C shims get UBSan in trapping mode (no runtime to link).
    for target in package.targets where target.type == .regular {
        if target.name.hasPrefix("C") {
            target.cSettings =
                (target.cSettings ?? []) + [
                    .unsafeFlags(["-fsanitize=fuzzer-no-link,address,undefined", "-fsanitize-trap=undefined"])
                ]
        } else {
            target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-sanitize=fuzzer,address"])]
        }
    }
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("FuzzCSV", ["MLCycleData"]),
        ("FuzzJSON", ["MLCycleData"]),
        ("FuzzJSONLines", ["MLCycleData"]),
        ("FuzzExpression", ["MLCycleData"]),
        ("FuzzRules", ["MLCycleData", "MLCycleQuality", "MLCycleProject"]),
        ("FuzzSpec", ["MLCycleProject"]),
        ("FuzzPredictRequest", ["MLCycleData", "MLCycleEvaluate", "MLCycleProject", "MLCycleServe", "MLCycleStore"]),
    ]
    // libFuzzer's driver, declared for Swift (SwiftPM names an executable's main itself, so libFuzzer's cannot be it).
    package.targets.append(.target(name: "CFuzzerDriver", path: "Tests/Fuzz/CFuzzerDriver"))
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: name, dependencies: ["CFuzzerDriver"] + dependencies, path: "Tests/Fuzz/\(name)",
                // The entry module itself without -sanitize=fuzzer: with it, main.swift would define libFuzzer's
                // entry point too.
                swiftSettings: [
                    .enableUpcomingFeature("MemberImportVisibility"), .unsafeFlags(["-sanitize=address"]),
                ],
                linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]))
    }
}
