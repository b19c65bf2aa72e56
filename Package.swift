// swift-tools-version:6.1
import PackageDescription

// Hot-path code is built with -Ounchecked-free release settings via `swift build -c release`;
// debug builds are for tests. Swift 5 language mode keeps C interop (raw pointers into
// shared memory) free of Sendable ceremony; the processes are single-threaded by design.
let swiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"]),
]

let package = Package(
    name: "xpf",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "xpfd", targets: ["Supervisor"]),
        .executable(name: "xpf-worker", targets: ["Worker"]),
        .executable(name: "xpf-top", targets: ["XPFTop"]),
        .executable(name: "xpfctl", targets: ["XPFCtl"]),
        .executable(name: "xpf-testhelper", targets: ["TestHelper"]),
        .executable(name: "xpf-bench", targets: ["XPFBench"]),
        .executable(name: "xpf-fuzz", targets: ["XPFFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // /metrics, xpfd only: the text exposition format, and the HTTP server.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
    ],
    targets: [
        // C shim: libxdp/libbpf/libnuma, the shared-memory ABI header, rtnetlink.
        .target(
            name: "CXPF",
            path: "Sources/CXPF",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [
                .linkedLibrary("xdp"), .linkedLibrary("bpf"), .linkedLibrary("numa"),
                .linkedLibrary("elf"), .linkedLibrary("z"),
            ]
        ),
        // The Promela models beside the code they describe are run by tools/model-check.
        .target(name: "Shared", dependencies: ["CXPF"], path: "Sources/Shared",
                exclude: ["Shm/Ring.pml", "Shm/Generations.pml", "Shm/ClearEpoch.pml", "Shm/QueuePark.pml", "Sessions/SessionTable.pml"],
                swiftSettings: swiftSettings),
        .executableTarget(
            name: "Supervisor",
            dependencies: ["Shared", "CXPF", "XPFMetrics", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "FlyingFox", package: "FlyingFox"), .product(name: "FlyingSocks", package: "FlyingFox")],
            path: "Sources/Supervisor", swiftSettings: swiftSettings),
        // The Prometheus view of the status model: xpfd serves it; a library so
        // that MetricsTests can drive it.
        .target(name: "XPFMetrics", dependencies: ["Shared", "CXPF", .product(name: "Prometheus", package: "swift-prometheus")],
                path: "Sources/XPFMetrics", swiftSettings: swiftSettings),
        .executableTarget(
            name: "Worker", dependencies: ["Shared", "CXPF"], path: "Sources/Worker",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "XPFTop",
            dependencies: ["Shared", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "tools/xpf-top", swiftSettings: swiftSettings),
        .executableTarget(
            name: "XPFCtl",
            dependencies: ["Shared", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "tools/xpfctl", swiftSettings: swiftSettings),
        .executableTarget(
            name: "XPFBench", dependencies: ["Shared", "CXPF", "XPFTestSupport", "CBenchFloor"], path: "tools/xpf-bench",
            swiftSettings: swiftSettings),
        // xpf-bench's C floor (parse, 5-tuple lookup, MAC rewrite, TTL): a baseline, never in the worker.
        .target(name: "CBenchFloor", path: "Sources/CBenchFloor", cSettings: [.unsafeFlags(["-O2"])]),
        // The lab as an in-memory fixture (region, FIB, pipeline): the benchmark and the fuzz targets.
        .target(name: "XPFTestSupport", dependencies: ["Shared", "CXPF"], path: "Tests/Support",
                swiftSettings: swiftSettings),
        // Fuzzing (tools/fuzz): weak hooks into the libFuzzer/ASan runtimes, the targets, the driver.
        .target(name: "CFuzz", path: "Tests/Fuzz/CFuzz"),
        .target(name: "FuzzTargets", dependencies: ["Shared", "CXPF", "CFuzz", "XPFTestSupport"],
                path: "Tests/Fuzz/Targets", swiftSettings: swiftSettings),
        .executableTarget(name: "XPFFuzz", dependencies: ["FuzzTargets"], path: "Tests/Fuzz/Driver",
                          swiftSettings: swiftSettings),
        .executableTarget(name: "TestHelper", dependencies: ["Shared", "CXPF"], path: "Tests/Helper", swiftSettings: swiftSettings),
        .testTarget(name: "SharedTests", dependencies: ["Shared", "CXPF", "FuzzTargets"], path: "Tests/SharedTests",
                    exclude: ["ConfigCorpus"], swiftSettings: swiftSettings),
        .testTarget(name: "MetricsTests", dependencies: ["XPFMetrics", "Shared", "CXPF"], path: "Tests/MetricsTests",
                    swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v5]
)
