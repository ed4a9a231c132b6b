// One request in flight: its easy-handle state, the callbacks' context, and the
// continuation that is resumed exactly once when curl reports it done.
import CCurl
import ObjectStore
import HTTPSeam
import Synchronization

final class Transfer: @unchecked Sendable {
    // Safety: after `submit`, every mutable field is touched only on the CurlLoop thread
    // (callbacks run inside curl_multi_perform on that thread). `continuation` or
    // `completion` is set before submit and used once, by `finish`, on the loop thread
    // (or in `submit`'s caller when the loop is shut down). `cancelled` is atomic.
    let request: HTTPRequest
    let sink: HTTPResponseSink
    var continuation: CheckedContinuation<HTTPResponseHead, Error>?
    /// Instead of `continuation` (`CurlTransport.start`): called once, on the loop thread.
    var completion: (@Sendable (Result<HTTPResponseHead, any Error>) -> Void)?
    let cancelled = Atomic<Bool>(false)

    var easy: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var status = 0
    var headers = HTTPHeaders()
    var headDelivered = false
    var sinkRefused = false
    var uploadOffset = 0
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    init(request: HTTPRequest, sink: HTTPResponseSink) {
        self.request = request
        self.sink = sink
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        errorBuffer.deallocate()
        if let headerList { curl_slist_free_all(headerList) }
    }

    func deliverHead() {
        guard !headDelivered else { return }
        headDelivered = true
        sink.receiveHead(HTTPResponseHead(status: status, headers: headers))
    }

    /// A header line: a status line starts a new response (after 100 Continue or a
    /// redirect), a "Name: value" line adds a field.
    func headerLine(_ line: UnsafeRawBufferPointer) {
        // Byte-wise: a String per character was a visible share of a small request's cost.
        if line.starts(with: "HTTP/".utf8) {
            let fields = line.split(separator: 0x20, maxSplits: 2)
            status = fields.count > 1 ? Int(String(decoding: fields[1], as: UTF8.self)) ?? 0 : 0
            headers = HTTPHeaders()
            return
        }
        guard let colon = line.firstIndex(of: 0x3A) else { return }
        var start = colon + 1, end = line.count
        while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
        while end > start, line[end - 1] == 0x0D || line[end - 1] == 0x0A || line[end - 1] == 0x20 || line[end - 1] == 0x09 {
            end -= 1
        }
        headers.add(String(decoding: line[..<colon], as: UTF8.self), String(decoding: line[start..<end], as: UTF8.self))
    }

    func finish(_ result: Result<HTTPResponseHead, Error>) {
        continuation?.resume(with: result)
        continuation = nil
        completion?(result)
        completion = nil
    }

    static func failure(for code: CURLcode, detail: String) -> TransportFailure {
        let kind: TransportFailure.Kind = switch code {
        case CURLE_COULDNT_CONNECT: .connect
        case CURLE_OPERATION_TIMEDOUT: .timeout
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: .dns
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE:
            .tls
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE: .reset
        case CURLE_WRITE_ERROR, CURLE_ABORTED_BY_CALLBACK: .aborted
        default: .other
        }
        let text = String(cString: curl_easy_strerror(code))
        return TransportFailure(kind, detail.isEmpty ? text : "\(text): \(detail)")
    }
}
