// swift-tools-version:6.0
// ossmount: mount an Alibaba Cloud OSS bucket through FUSE.
// Target layout and import rules: docs/DESIGN.md.
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "ossmount",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "OSSClient", targets: ["OSSClient"]),
        .library(name: "HTTPSeam", targets: ["HTTPSeam"]),
        .library(name: "CurlTransport", targets: ["CurlTransport"]),
        .library(name: "ObjectStoreTesting", targets: ["ObjectStoreTesting"]),
        .executable(name: "ossbench-micro", targets: ["ossbench-micro"]),
        .executable(name: "osslocal", targets: ["osslocal"]),
        .executable(name: "ossmount", targets: ["ossmount"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C interop: headers plus target-prefixed shims for what Swift cannot import.
        .target(name: "CFuse3", linkerSettings: [.linkedLibrary("fuse3")]),
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "COpenSSL", linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "CLibc"),

        .target(name: "CCRC64"),
        // The version and the commit of the build (BuildInfoPlugin writes the commit).
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .target(name: "BuildInfo", swiftSettings: strict, plugins: ["BuildInfoPlugin"]),
        .target(name: "OSSCrypto", dependencies: ["COpenSSL", "CCRC64"], swiftSettings: strict),
        .target(name: "FuseKit", dependencies: ["CFuse3"], swiftSettings: strict),
        .target(
            name: "VFS",
            dependencies: ["ObjectStore", "CLibc", .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict),
        .target(name: "ObjectStore", swiftSettings: strict),
        .target(
            name: "DataCache",
            dependencies: ["ObjectStore", "OSSCrypto", "CLibc", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(name: "ObjectStoreTesting", dependencies: ["ObjectStore", "OSSCrypto"], swiftSettings: strict),
        // The HTTP transport seam: what OSSClient hands a wire implementation. Neither
        // side links the other: CurlTransport does not link the signers.
        .target(name: "HTTPSeam", dependencies: ["ObjectStore"], swiftSettings: strict),
        .target(
            name: "OSSClient",
            dependencies: ["ObjectStore", "HTTPSeam", "OSSCrypto", .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict),
        .target(
            name: "CurlTransport",
            dependencies: ["CCurl", "ObjectStore", "HTTPSeam", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(
            name: "OSSMountCLI",
            dependencies: ["VFS", "FuseKit", "OSSClient", "HTTPSeam", "CurlTransport", "ObjectStore", "BuildInfo", "CLibc", "DataCache",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics"),
                           .product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: strict),
        .executableTarget(name: "ossmount", dependencies: ["OSSMountCLI"], swiftSettings: strict),
        // osslocal: the local OSS-compatible server (embedded default, test peer, benchmark server).
        .target(
            name: "OSSLocalServer",
            dependencies: [
                "OSSCrypto", "OSSClient", "HTTPSeam", "ObjectStore", "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "osslocal",
            dependencies: ["OSSLocalServer", "BuildInfo", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        .executableTarget(
            name: "ossbench-micro", dependencies: ["OSSCrypto", "OSSClient"], path: "scripts/bench/micro",
            swiftSettings: strict),

        // Test support: a tiny real HTTP/1.1 server (SwiftNIO) for transport and
        // credential-fixture tests.
        .target(
            name: "HTTPFixture",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/HTTPFixture", swiftSettings: strict),
        .testTarget(name: "OSSCryptoTests", dependencies: ["OSSCrypto"], swiftSettings: strict),
        .testTarget(
            name: "ObjectStoreTestingTests", dependencies: ["ObjectStoreTesting"], swiftSettings: strict),
        .testTarget(
            name: "OSSClientTests",
            dependencies: ["OSSClient", "HTTPSeam", "ObjectStoreTesting", "HTTPFixture", "CurlTransport"],
            swiftSettings: strict),
        .testTarget(name: "VFSTests", dependencies: ["VFS", "ObjectStoreTesting"], swiftSettings: strict),
        .testTarget(name: "DataCacheTests", dependencies: ["DataCache", "CLibc"], swiftSettings: strict),
        .testTarget(name: "OSSMountCLITests", dependencies: ["OSSMountCLI"], swiftSettings: strict),
        .testTarget(name: "FuseKitTests", dependencies: ["FuseKit"], swiftSettings: strict),
        .testTarget(
            name: "OSSLocalServerTests",
            dependencies: ["OSSLocalServer", "OSSClient", "CurlTransport", "ObjectStore"],
            swiftSettings: strict),
        .testTarget(
            name: "CurlTransportTests", dependencies: ["CurlTransport", "HTTPSeam", "HTTPFixture"], swiftSettings: strict),
    ]
)
