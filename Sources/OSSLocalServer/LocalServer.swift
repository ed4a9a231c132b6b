// LocalServer: osslocal's HTTP/1.1 front end on SwiftNIO. Listens on loopback by
// default, plain HTTP, HTTPS (swift-nio-ssl), or both on two ports; one handler
// per connection parses each request, authenticates it from its head alone,
// streams object bodies into blobs as they arrive (MD5 and CRC-64 computed on the
// way), and hands the operation to a thread pool (it may fsync) before writing
// the answer: bytes, or a file region sent with sendfile (over TLS, read in
// chunks on the thread pool and encrypted).
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
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
    /// HTTPS with these files; nil: plain HTTP only.
    public var tls: TLSFiles?
    /// With `tls`: HTTPS on `host:tlsPort` while `host:port` stays plain HTTP (0 picks a
    /// free port); nil: `host:port` itself is HTTPS.
    public var tlsPort: Int?
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
    let channels: [Channel]
    let stats = ConnectionStats()
    /// The first listener's port (HTTPS when `tls` is set without `tlsPort`).
    public let port: Int
    /// The HTTPS listener's port, when there is one.
    public let tlsPort: Int?

    public var address: String { "\(config.tls != nil && config.tlsPort == nil ? "https" : "http")://\(config.host):\(port)" }
    /// The HTTPS address, when TLS is on.
    public var tlsAddress: String? { tlsPort.map { "https://\(config.host):\($0)" } }
    /// Connections accepted and TLS handshakes completed so far.
    public var connectionsAccepted: Int { stats.connections }
    public var tlsHandshakes: Int { stats.handshakes }
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
                                     domain: config.domain, logger: logger, stats: stats)
        do {
            let ssl = try config.tls?.context()
            var bound = [try Self.bind(group, config.host, config.port, context, ssl: config.tlsPort == nil ? ssl : nil)]
            if let ssl, let tlsPort = config.tlsPort { bound.append(try Self.bind(group, config.host, tlsPort, context, ssl: ssl)) }
            channels = bound
        } catch {
            try? group.syncShutdownGracefully()
            try? pool.syncShutdownGracefully()
            throw error
        }
        port = channels[0].localAddress?.port ?? config.port
        tlsPort = config.tls == nil ? nil : channels.last?.localAddress?.port
    }

    private static func bind(_ group: EventLoopGroup, _ host: String, _ port: Int, _ context: HandlerContext,
                             ssl: NIOSSLContext?) throws -> Channel {
        try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                context.stats.connected()
                do {
                    let sync = channel.pipeline.syncOperations
                    if let ssl {
                        try sync.addHandler(NIOSSLServerHandler(context: ssl))
                        try sync.addHandler(HandshakeObserver(stats: context.stats, log: context.log))
                    }
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(RequestHandler(context: context, secure: ssl != nil))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: host, port: port).wait()
    }

    public func stop() {
        for channel in channels { try? channel.close().wait() }
        try? group.syncShutdownGracefully()
        try? pool.syncShutdownGracefully()
    }

    /// Blocks until the listening sockets close.
    public func wait() throws {
        for channel in channels { try channel.closeFuture.wait() }
    }
}

/// What every connection handler shares.
struct HandlerContext: Sendable {
    let service: LocalService
    let faults: FaultInjector
    let log: RequestLog?
    let pool: NIOThreadPool
    let domain: String
    let logger: Logger
    let stats: ConnectionStats
}
