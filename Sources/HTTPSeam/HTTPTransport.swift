// HTTPSeam: the seam between OSSClient (what to send, how to sign and retry) and a wire
// implementation (CurlTransport in production, recording and fault transports in
// tests). A transport sends one request and streams the answer into a sink; it
// never retries and never interprets statuses.
import ObjectStore

/// Header fields in sending order, looked up case-insensitively.
public struct HTTPHeaders: Sendable, Hashable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ pairs: [(String, String)]) { fields = pairs.map { (name: $0.0, value: $0.1) } }

    public subscript(name: String) -> String? {
        fields.first { Self.sameName($0.name, name) }?.value
    }

    /// Header names compared ASCII case-insensitively, without a lowercased copy of
    /// each (a response's fields were looked up that way a dozen times per request).
    static func sameName(_ a: String, _ b: String) -> Bool {
        func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
        return a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8) { lower($0) == lower($1) }
    }

    /// Replaces every field of that name with one.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append((name: name, value: value))
    }

    public mutating func add(_ name: String, _ value: String) { fields.append((name: name, value: value)) }

    public mutating func remove(_ name: String) {
        fields.removeAll { Self.sameName($0.name, name) }
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        a.fields.elementsEqual(b.fields) { $0.name == $1.name && $0.value == $1.value }
    }
    public func hash(into hasher: inout Hasher) {
        for f in fields {
            hasher.combine(f.name)
            hasher.combine(f.value)
        }
    }
}

public struct HTTPRequest: Sendable, CustomStringConvertible {
    public var method: String
    /// Absolute URL, already encoded.
    public var url: String
    public var headers: HTTPHeaders
    public var body: UploadBody?

    public init(method: String, url: String, headers: HTTPHeaders = HTTPHeaders(), body: UploadBody? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// Method, URL and headers with every credential-bearing value redacted: safe to log.
    public var description: String {
        var s = "\(method) \(Redaction.url(url))"
        for f in headers { s += "\n\(f.name): \(Redaction.header(f.name, f.value))" }
        return s
    }
}

public struct HTTPResponseHead: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public init(status: Int, headers: HTTPHeaders) {
        self.status = status
        self.headers = headers
    }
}

/// Receives one response. Called from the transport's I/O thread, strictly in order:
/// `receiveHead` once, then `receiveBody` zero or more times. Returning false from
/// `receiveBody` aborts the transfer (the transport then throws `.aborted`).
public protocol HTTPResponseSink: AnyObject, Sendable {
    func receiveHead(_ head: HTTPResponseHead)
    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool
    /// The body's size when known before it arrives (the transport sizes its buffers by it).
    var expectedBodySize: Int? { get }
}

extension HTTPResponseSink {
    public var expectedBodySize: Int? { nil }
}

public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns once the whole response went into `sink`. Throws
    /// `TransportFailure` when no complete response arrived.
    func execute(_ request: HTTPRequest, sink: HTTPResponseSink) async throws -> HTTPResponseHead

    /// Sends `request` without a Task: `completion` is called once, on the transport's
    /// I/O thread (or at once, in the caller's, when the request cannot be sent), after the
    /// whole response went into `sink`. Returns what cancels it; nil when this transport
    /// has no such path (use `execute`).
    func start(_ request: HTTPRequest, sink: HTTPResponseSink,
               completion: @escaping @Sendable (Result<HTTPResponseHead, any Error>) -> Void) -> (@Sendable () -> Void)?
}

extension HTTPTransport {
    public func start(_ request: HTTPRequest, sink: HTTPResponseSink,
                      completion: @escaping @Sendable (Result<HTTPResponseHead, any Error>) -> Void) -> (@Sendable () -> Void)?
    {
        nil
    }
}

/// Formats values that may carry secrets so that they never reach a log or an error.
public enum Redaction {
    static let secretHeaders: Set<String> = ["authorization", "x-oss-security-token", "security-token"]
    static let secretQuery: Set<String> = [
        "signature", "security-token", "x-oss-signature", "x-oss-security-token", "x-oss-credential",
        "ossaccesskeyid",
    ]

    public static func header(_ name: String, _ value: String) -> String {
        secretHeaders.contains(name.lowercased()) ? "<redacted>" : value
    }

    public static func url(_ url: String) -> String {
        guard let q = url.firstIndex(of: "?") else { return url }
        let items = url[url.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map {
            item -> String in
            let name = item.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            return secretQuery.contains(name.lowercased()) ? "\(name)=<redacted>" : String(item)
        }
        return url[..<q] + "?" + items.joined(separator: "&")
    }
}
