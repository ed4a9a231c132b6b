// Memory that crosses the ObjectClient boundary without being copied: a GET
// writes straight into a caller-owned buffer (a prefetch chunk from the pool), a
// PUT reads straight from one. The caller keeps the memory alive and untouched
// until the call returns; that promise is what makes these types Sendable.

/// Where a GET body goes.
public enum ReadDestination: Sendable {
    /// Into this buffer, from its start. A body longer than the buffer is an error.
    case buffer(MutableBytes)
    /// Into a fresh array returned in `GetResult.body`; a body over `limit` bytes is an error.
    case collect(limit: Int)
}

/// A caller-owned writable buffer.
public struct MutableBytes: @unchecked Sendable {
    // Safety: the caller of the ObjectClient operation owns this memory, keeps it alive and
    // does not touch it until the operation returns; only the operation writes it meanwhile.
    public let pointer: UnsafeMutableRawBufferPointer
    public init(_ pointer: UnsafeMutableRawBufferPointer) { self.pointer = pointer }
}

/// The body of a PUT, UploadPart or AppendObject.
public struct UploadBody: @unchecked Sendable {
    // Safety: for `.borrowed`, the caller keeps the memory alive and unchanged until the
    // operation returns (same contract as MutableBytes); `.bytes` owns an immutable array.
    public enum Storage {
        case bytes([UInt8])
        case borrowed(UnsafeRawBufferPointer)
    }
    public let storage: Storage

    public init(_ bytes: [UInt8]) { storage = .bytes(bytes) }
    public init(borrowing pointer: UnsafeRawBufferPointer) { storage = .borrowed(pointer) }
    public static let empty = UploadBody([])

    public var count: Int {
        switch storage {
        case .bytes(let b): b.count
        case .borrowed(let p): p.count
        }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .bytes(let b): try b.withUnsafeBytes(body)
        case .borrowed(let p): try body(p)
        }
    }
}

public struct GetResult: Sendable {
    /// Metadata from the response headers (size is the whole object's size).
    public var info: ObjectInfo
    /// How many body bytes were written to the destination.
    public var bytesRead: Int
    /// The body, for `.collect` destinations.
    public var body: [UInt8]?
    public init(info: ObjectInfo, bytesRead: Int, body: [UInt8]?) {
        self.info = info
        self.bytesRead = bytesRead
        self.body = body
    }
}
