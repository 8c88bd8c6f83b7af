// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "mlp",
    products: [
        .executable(name: "mlp", targets: ["mlp"]),
        .library(name: "MLP", targets: ["MLP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `mlp export` writes ONNX, a protobuf: only the runtime library `SwiftProtobuf` is used.
        // The Swift for onnx.proto is generated once and committed (Sources/MLPONNX/regenerate.sh),
        // so no build needs protoc or the package's build plugin. 1.39.0 needs Swift 6.2+.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C libraries, each behind one small shim (see each folder's shim.h).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // The math, the training loop and the file formats. Knows nothing of MPI.
        // Every target builds with -O (the release default), which keeps bounds, overflow and
        // `precondition` checks: the readers parse bytes from outside (CSV, IDX, gzip, .npy,
        // safetensors). -Ounchecked is used nowhere: an unchecked target for hot numeric kernels
        // would be kept only for a measured gain of at least 3% at W1 or W3, and the kernels that
        // matter are OpenBLAS's, while the element-wise loops are inlined generic code compiled at
        // the caller's settings (Adam's, where the CPU has AVX, is C: `CKernels`). Measured, the whole library at -Ounchecked against -O on 2 ranks
        // (`Benchmarks/compare-builds mlp-Ounchecked mlp-O ROUNDS 2 W1,W3`, -O ÷ -Ounchecked, median of
        // per-round ratios): W1 0.96 over 6 rounds and 1.02 over 10, W3 1.01 over 6 — within the
        // rounds' noise (0.92–1.18), no gain of 3% to keep.
        .target(name: "MLP", dependencies: ["CBLAS", "CZlib", "CMemory", "CKernels"]),
        // Non-temporal stores (SSE2 intrinsics), for the node-shared θ's update: header-only.
        .target(name: "CMemory"),
        // Adam's update with AVX where the CPU has it (chosen at run time), the Swift loop's bits.
        .target(name: "CKernels"),
        // The MPI implementation of `Communicator`: the only Swift code that imports CMPI.
        .target(name: "MLPMPI", dependencies: ["MLP", "CMPI"]),
        // `mlp bench`, `bench-allreduce`, `bench-step`: they drive the trainer through its public stepping API.
        .target(name: "MLPBenchmarks", dependencies: ["MLP"]),
        // `mlp plot`: learning curves from a metrics file, as SVG.
        .target(name: "MLPPlot", dependencies: ["MLP"]),
        // `mlp export`: a model file as an ONNX model. The only library target that imports SwiftProtobuf,
        // so the core library `MLP` does not depend on it.
        .target(name: "MLPONNX", dependencies: [
            "MLP", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], exclude: ["regenerate.sh"]),
        // The command line: parses, validates, picks the communicator, calls the library.
        .target(name: "MLPCommandLine", dependencies: [
            "MLP", "MLPMPI", "MLPBenchmarks", "MLPPlot", "MLPONNX",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        // The build's identity that ranks compare at start: the sources' digest and the compiler.
        plugins: ["SourceFingerprint"]),
        // Generates `SourceFingerprint.swift` (see the plugin's doc comment).
        .plugin(name: "SourceFingerprint", capability: .buildTool()),
        // The `mlp` executable: `MLPCommand.main()`.
        .executableTarget(name: "mlp", dependencies: ["MLPCommandLine"]),
        // Test-only: wraps malloc to count allocations during training steps.
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        // Test-only: `mlp` with the faults the tests inject, chosen by MLP_TEST_* environment variables.
        .executableTarget(name: "mlp-faults", dependencies: ["MLP", "MLPCommandLine"], path: "Tests/FaultInjection"),
        // Test-only: `mlp-cases`, adversarial command lines drawn from the option and output declarations, with an
        // oracle (docs/tests.md, "Generated cases"). `swift run mlp-cases --cases N --seed S`.
        .executableTarget(name: "mlp-cases", dependencies: ["MLP", "TestSupport"], path: "Tests/CaseGenerator"),
        // Test-only: what both test targets share: scratch folders, data files, and the one way
        // to run `mlp` (directly, under mpirun, in the background) with a liveness time limit.
        .target(name: "TestSupport", dependencies: ["MLP", "CZlib"], path: "Tests/TestSupport"),
        // Unit tests: in process, small data, no mpirun and no child process.
        // Alone: `swift test --filter MLPTests.`
        .testTarget(name: "MLPTests", dependencies: ["MLP", "MLPBenchmarks", "TestSupport", "AllocationCounter"]),
        // End-to-end tests: the real `mlp` and `mlp-faults` (it depends on them, so `swift test`
        // builds them), real `mpirun` with 2 and 3 ranks, real files. Alone: `swift test --filter MLPEndToEndTests.`
        .testTarget(name: "MLPEndToEndTests", dependencies: [
            "MLP", "MLPONNX", "mlp", "mlp-faults", "TestSupport",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
