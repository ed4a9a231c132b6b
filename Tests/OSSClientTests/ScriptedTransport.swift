// Test doubles for one layer: a transport that records every request and
// answers from a script, a manual clock, and a log handler that keeps lines.
import HTTPSeam
import Logging
import ObjectStore
import Synchronization
@testable import OSSClient

enum Scripted: Sendable {
    case response(status: Int, headers: [(String, String)] = [], body: [UInt8] = [])
    case failure(TransportFailure.Kind)

    static func ok(_ headers: [(String, String)] = [], body: String = "") -> Scripted {
        .response(status: 200, headers: headers, body: Array(body.utf8))
    }

    static func error(_ status: Int, code: String, message: String = "m", extraHeaders: [(String, String)] = []) -> Scripted {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message>\(message)</Message>"
            + "<RequestId>RID</RequestId><HostId>h</HostId><EC>0000-00000000</EC></Error>"
        return .response(status: status, headers: [("Content-Type", "application/xml")] + extraHeaders,
                         body: Array(xml.utf8))
    }
}

final class ScriptedTransport: HTTPTransport {
    private let script: @Sendable (HTTPRequest, Int) -> Scripted
    private let log = Mutex<[HTTPRequest]>([])
    private let sizes = Mutex<[Int?]>([])

    /// `script` gets the request and its 0-based index among all requests sent.
    init(_ script: @escaping @Sendable (HTTPRequest, Int) -> Scripted) { self.script = script }

    var requests: [HTTPRequest] { log.withLock { $0 } }
    /// What each request's sink said of its body's size, in order.
    var expectedBodySizes: [Int?] { sizes.withLock { $0 } }

    /// Answers from a Task, standing in for an I/O thread.
    func start(_ request: HTTPRequest, sink: HTTPResponseSink,
               completion: @escaping @Sendable (Result<HTTPResponseHead, any Error>) -> Void) -> (@Sendable () -> Void)?
    {
        Task {
            do { completion(.success(try await execute(request, sink: sink))) } catch { completion(.failure(error)) }
        }
        return {}
    }

    func execute(_ request: HTTPRequest, sink: HTTPResponseSink) async throws -> HTTPResponseHead {
        let index = log.withLock { l in
            l.append(request)
            return l.count - 1
        }
        sizes.withLock { $0.append(sink.expectedBodySize) }
        switch script(request, index) {
        case .failure(let kind):
            throw TransportFailure(kind, "scripted")
        case .response(let status, let headers, let body):
            var h = HTTPHeaders(headers)
            if h["Content-Length"] == nil { h.add("Content-Length", String(body.count)) }
            let head = HTTPResponseHead(status: status, headers: h)
            sink.receiveHead(head)
            if request.method != "HEAD" && !body.isEmpty {
                let accepted = body.withUnsafeBytes { sink.receiveBody($0) }
                if !accepted { throw TransportFailure(.aborted, "sink refused") }
            }
            return head
        }
    }
}

/// A clock that never sleeps: sleeping advances it.
final class ManualClock: Sendable {
    private let state: Mutex<(now: Double, sleeps: [Duration])>
    init(now: Double = 1_704_164_645) { state = Mutex((now, [])) }
    var now: Double { state.withLock { $0.now } }
    var sleeps: [Duration] { state.withLock { $0.sleeps } }
    func advance(_ seconds: Double) { state.withLock { $0.now += seconds } }

    var clientClock: ClientClock {
        ClientClock(
            now: { self.now },
            sleep: { d in
                self.state.withLock {
                    $0.sleeps.append(d)
                    $0.now += Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
                }
            },
            random: { 0.5 })
    }
}

final class LogCapture: Sendable {
    let lines = Mutex<[String]>([])
    var logger: Logger {
        var l = Logger(label: "test") { _ in CapturingLogHandler(capture: self) }
        l.logLevel = .trace
        return l
    }
    var all: [String] { lines.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let text = "\(event.level) \(event.message) " + merged.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        capture.lines.withLock { $0.append(text) }
    }
}

enum TestClient {
    static let credentials = Credentials(accessKeyId: "AKIDTEST", accessKeySecret: "SuperSecretValue123",
                                         securityToken: "TokenSecretXYZ")

    static func make(_ transport: ScriptedTransport, clock: ManualClock = ManualClock(), region: String? = "cn-hangzhou",
                     retry: RetryPolicy = RetryPolicy(), logger: Logger = Logger(label: "test"),
                     credentials: Credentials = credentials, provider: CredentialsProvider? = nil) -> OSSClient {
        let endpoint = try! OSSEndpoint(parsing: "http://127.0.0.1:9100")
        return OSSClient(config: OSSClientConfig(endpoint: endpoint, bucket: "bkt", region: region, retry: retry),
                         transport: transport, credentials: provider ?? StaticCredentialsProvider(credentials),
                         clock: clock.clientClock, logger: logger)
    }
}
