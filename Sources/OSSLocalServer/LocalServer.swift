// LocalServer: osslocal's HTTP/1.1 front end on SwiftNIO. Listens on loopback by
// default; one handler per connection parses each request, authenticates it from
// its head alone, streams object bodies into blobs as they arrive (MD5 and
// CRC-64 computed on the way), and hands the operation to a thread pool (it may
// fsync) before writing the answer: bytes, or a file region sent with sendfile.
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import OSSClient

public struct LocalServerConfig: Sendable {
    /// Directory for durable storage; nil keeps everything in memory.
    public var root: String?
    public var host = "127.0.0.1"
    /// 0 picks a free port.
    public var port = 9100
    public var buckets: [String] = []
    public var accounts: [LocalAccount] = []
    public var anonymous = false
    /// Requests whose Host is `BUCKET.<domain>` address that bucket (virtual-hosted style).
    public var domain = "localhost"
    /// The region V4 scopes must name.
    public var region = "cn-hangzhou"
    public var requestLog: String?
    public var faults = FaultSpec()
    public var faultSeed: UInt64 = 1
    /// A minimal STS (AssumeRoleWithOIDC) whose keys this server accepts; nil: none.
    public var sts: LocalSTSConfig?
    /// Operation threads: they do the fsyncs and copies, so a few more than cores.
    public var operationThreads = 8
    public init() {}
}

public final class LocalServer: Sendable {
    public let config: LocalServerConfig
    let service: LocalService
    let faults: FaultInjector
    let requestLog: RequestLog?
    let group: MultiThreadedEventLoopGroup
    let pool: NIOThreadPool
    let channel: Channel
    public let port: Int

    public var address: String { "http://\(config.host):\(port)" }
    public var faultsInjected: Int { faults.injected }

    public static func start(_ config: LocalServerConfig, logger: Logger = Logger(label: "osslocal")) throws -> LocalServer {
        var stores: [String: BucketStore] = [:]
        for name in config.buckets {
            stores[name] = try BucketStore(name: name, directory: config.root.map { $0 + "/" + name })
        }
        let accounts = Dictionary(config.accounts.map { ($0.accessKeyId, $0) }, uniquingKeysWith: { $1 })
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let auth = Authenticator(accounts: accounts, sts: config.sts.map { LocalSTS(config: $0, now: now) },
                                 region: config.region, anonymous: config.anonymous, now: now)
        let service = LocalService(buckets: stores, authenticator: auth, region: config.region, logger: logger,
                                   now: { Date().timeIntervalSince1970 })
        return try LocalServer(config: config, service: service, logger: logger)
    }

    private init(config: LocalServerConfig, service: LocalService, logger: Logger) throws {
        self.config = config
        self.service = service
        faults = FaultInjector(spec: config.faults, seed: config.faultSeed)
        requestLog = try config.requestLog.map { try RequestLog(path: $0) }
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        pool = NIOThreadPool(numberOfThreads: config.operationThreads)
        pool.start()
        let context = HandlerContext(service: service, faults: faults, log: requestLog, pool: pool,
                                     domain: config.domain, logger: logger)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(RequestHandler(context: context))
                }
            }
        do {
            channel = try bootstrap.bind(host: config.host, port: config.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            try? pool.syncShutdownGracefully()
            throw error
        }
        port = channel.localAddress?.port ?? config.port
    }

    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
        try? pool.syncShutdownGracefully()
    }

    /// Blocks until the listening socket closes.
    public func wait() throws { try channel.closeFuture.wait() }
}

/// What every connection handler shares.
struct HandlerContext: Sendable {
    let service: LocalService
    let faults: FaultInjector
    let log: RequestLog?
    let pool: NIOThreadPool
    let domain: String
    let logger: Logger
}
