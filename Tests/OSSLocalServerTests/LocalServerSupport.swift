// An in-process osslocal on a free loopback port and an OSSClient wired to it
// through the real CurlTransport.
import CurlTransport
import Foundation
import Logging
import ObjectStore
import OSSClient
import OSSLocalServer

struct LocalFixture {
    let server: LocalServer
    let transport: CurlTransport
    let root: String

    static let accessKeyId = "LTAI5tLocalTest"
    static let secret = "LocalTestSecret0123"

    init(faults: FaultSpec = FaultSpec(), memory: Bool = false) throws {
        root = NSTemporaryDirectory() + "osslocal-swift-" + UUID().uuidString
        var config = LocalServerConfig()
        config.root = memory ? nil : root
        config.port = 0
        config.buckets = ["bkt"]
        config.accounts = [LocalAccount(accessKeyId: Self.accessKeyId, secret: Self.secret)]
        config.faults = faults
        var logger = Logger(label: "osslocal-test")
        logger.logLevel = .critical
        server = try LocalServer.start(config, logger: logger)
        transport = CurlTransport()
    }

    func client(region: String? = "cn-hangzhou", retry: RetryPolicy = RetryPolicy()) -> OSSClient {
        let endpoint = try! OSSEndpoint(parsing: server.address)
        var logger = Logger(label: "client-test")
        logger.logLevel = .critical
        return OSSClient(config: OSSClientConfig(endpoint: endpoint, bucket: "bkt", region: region, retry: retry),
                         transport: transport,
                         credentials: StaticCredentialsProvider(Credentials(accessKeyId: Self.accessKeyId,
                                                                            accessKeySecret: Self.secret)),
                         logger: logger)
    }

    func shutdown() {
        transport.shutdown()
        server.stop()
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Deterministic pseudo-random bytes.
func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        return UInt8(truncatingIfNeeded: x)
    }
}

func serviceCode(_ body: () async throws -> Void) async -> String? {
    do {
        try await body()
        return nil
    } catch {
        return (error as? ObjectStoreError)?.code ?? "\(error)"
    }
}
