// The sink for one attempt of one request. A success body goes where the
// operation wants it (a caller's buffer, or a collected array) with its CRC-64
// computed on the fly; an error body (status >= 300) is kept apart, bounded, for
// decoding, so an error page never lands in a caller's buffer.
import HTTPSeam
import ObjectStore
import OSSCrypto

final class ResponseCollector: HTTPResponseSink, @unchecked Sendable {
    // Safety: the transport calls receiveHead/receiveBody from one thread, in order, and
    // the operation reads the fields only after `execute` returned (which happens-after
    // the last callback); no two threads touch the state at once.
    enum Target: Sendable {
        case buffer(MutableBytes)
        /// Into `body`, at most `limit` bytes; `expected` when the caller knows the size
        /// (a range), not a listing's.
        case collect(limit: Int, expected: Int? = nil)
    }

    private let target: Target
    private let computeCRC: Bool
    private(set) var head: HTTPResponseHead?
    private(set) var body: [UInt8] = []
    private(set) var errorBody: [UInt8] = []
    private(set) var bytesWritten = 0
    private(set) var crc = CRC64()
    /// Set when the body did not fit; the transfer was aborted.
    private(set) var overflow = false

    /// An error page larger than this is cut: only Code/Message matter.
    static let errorBodyLimit = 64 * 1024

    init(target: Target, computeCRC: Bool) {
        self.target = target
        self.computeCRC = computeCRC
    }

    var isSuccess: Bool { (head?.status ?? 0) < 300 }

    var expectedBodySize: Int? {
        switch target {
        case .buffer(let b): b.pointer.count
        case .collect(_, let expected): expected
        }
    }

    func receiveHead(_ head: HTTPResponseHead) { self.head = head }

    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard isSuccess else {
            let room = Self.errorBodyLimit - errorBody.count
            if room > 0 { errorBody.append(contentsOf: chunk.prefix(room)) }
            return true
        }
        switch target {
        case .buffer(let dest):
            guard bytesWritten + chunk.count <= dest.pointer.count else {
                overflow = true
                return false
            }
            // Safety: the range [bytesWritten, bytesWritten+count) was checked to be inside `dest`.
            UnsafeMutableRawBufferPointer(rebasing: dest.pointer[bytesWritten..<(bytesWritten + chunk.count)])
                .copyMemory(from: chunk)
        case .collect(let limit, _):
            guard body.count + chunk.count <= limit else {
                overflow = true
                return false
            }
            body.append(contentsOf: chunk)
        }
        if computeCRC { crc.update(chunk) }
        bytesWritten += chunk.count
        return true
    }
}
