// swift-tools-version: 6.1
// The hand-written hot paths of MLCycleData (CSV reader, radix sort, JSON reader and writer) timed against the
// packages and the Foundation APIs they stand in for. Run: bash Benchmarks/micro/run.sh
import PackageDescription

let package = Package(
    name: "mlcycle-micro-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // mlcycle's own MLCycleData sources (a link to ../../Sources/MLCycleData), built in release mode here.
        .target(name: "MLCycleData", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .executableTarget(
            name: "Parsers",
            dependencies: [
                "MLCycleData", .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SwiftCSV", package: "SwiftCSV"), .product(name: "CSV", package: "CSV.swift"),
            ],
            path: "Benchmarks/Parsers",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ]
)
