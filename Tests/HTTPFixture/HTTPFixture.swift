// A real HTTP/1.1 server on 127.0.0.1 (SwiftNIO) for tests that need a peer on
// the wire: CurlTransport behaviour, the ECS metadata-service flow. Each test
// gives a handler that maps a request to a response; the fixture records every
// request and counts accepted connections.
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

public struct FixtureRequest: Sendable {
    public var method: String
    public var uri: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

public struct FixtureResponse: Sendable {
    public enum Behaviour: Sendable {
        case normal
        /// Close the connection without answering (a reset as the client sees it).
        case dropConnection
        /// Send headers and this many body bytes, then close (a cut body).
        case truncateBody(after: Int)
    }
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var delayMilliseconds: Int64
    public var behaviour: Behaviour

    public init(status: Int = 200, headers: [(String, String)] = [], body: [UInt8] = [], delayMilliseconds: Int64 = 0,
                behaviour: Behaviour = .normal) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delayMilliseconds = delayMilliseconds
        self.behaviour = behaviour
    }

    public static func text(_ s: String, status: Int = 200) -> FixtureResponse {
        FixtureResponse(status: status, body: Array(s.utf8))
    }
}

public final class HTTPFixture: Sendable {
    public typealias Handler = @Sendable (FixtureRequest) -> FixtureResponse

    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    private let state: NIOLockedValueBox<(requests: [FixtureRequest], connections: Int)>
    public let port: Int

    public init(handler: @escaping Handler) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let state = NIOLockedValueBox<(requests: [FixtureRequest], connections: Int)>(([], 0))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                state.withLockedValue { $0.connections += 1 }
                return channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(FixtureHandler(handler: handler, state: state))
                }
            }
        self.channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        self.group = group
        self.state = state
        self.port = channel.localAddress!.port!
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var requests: [FixtureRequest] { state.withLockedValue { $0.requests } }
    public var connectionsAccepted: Int { state.withLockedValue { $0.connections } }

    public func shutdown() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

private final class FixtureHandler: ChannelInboundHandler, @unchecked Sendable {
    // Safety: NIO calls a handler only on its channel's event loop; the fields are not
    // touched anywhere else.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let handler: HTTPFixture.Handler
    let state: NIOLockedValueBox<(requests: [FixtureRequest], connections: Int)>
    var head: HTTPRequestHead?
    var body: [UInt8] = []

    init(handler: @escaping HTTPFixture.Handler,
         state: NIOLockedValueBox<(requests: [FixtureRequest], connections: Int)>) {
        self.handler = handler
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let h = head else { return }
            let request = FixtureRequest(method: h.method.rawValue, uri: h.uri,
                                         headers: h.headers.map { ($0.name, $0.value) }, body: body)
            state.withLockedValue { $0.requests.append(request) }
            let response = handler(request)
            let isHead = h.method == .HEAD
            if response.delayMilliseconds > 0 {
                let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(response.delayMilliseconds)) { [self] in
                    respond(ctx.value, response, isHead: isHead)
                }
            } else {
                respond(context, response, isHead: isHead)
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ r: FixtureResponse, isHead: Bool) {
        if case .dropConnection = r.behaviour {
            context.close(promise: nil)
            return
        }
        var headers = HTTPHeaders(r.headers)
        if !headers.contains(name: "Content-Length") { headers.add(name: "Content-Length", value: "\(r.body.count)") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: r.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var bytes = r.body
        if case .truncateBody(let n) = r.behaviour { bytes = Array(bytes.prefix(n)) }
        if !isHead && !bytes.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))),
                          promise: nil)
        }
        if case .truncateBody = r.behaviour {
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer()))), promise: nil)
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
