// FaultInjectingClient wraps another ObjectClient and makes chosen calls fail,
// by seeded chance or on demand, before the call reaches the store or after it
// succeeded (an answer lost on the way back: the write happened, the caller
// sees an error). Same seed, same faults.
import ObjectStore
import Synchronization

public enum ObjectOperation: String, Sendable, Hashable, CaseIterable {
    case head, get, put, append, list, delete, deleteMultiple, copy
    case initiateMultipart, uploadPart, uploadPartCopy, completeMultipart, abortMultipart, listParts, listUploads
    case putSymlink, getSymlink
}

public struct FaultRule: Sendable {
    /// nil: every operation.
    public var operations: Set<ObjectOperation>?
    public var error: ObjectStoreError
    public var probability: Double
    /// Fail after the wrapped call succeeded (its effect stays).
    public var afterCall: Bool

    public init(_ operations: Set<ObjectOperation>? = nil, error: ObjectStoreError, probability: Double,
                afterCall: Bool = false) {
        self.operations = operations
        self.error = error
        self.probability = probability
        self.afterCall = afterCall
    }
}

public final class FaultInjectingClient: ObjectClient {
    public let base: ObjectClient

    private struct State {
        var rng: UInt64
        var rules: [FaultRule]
        var queued: [(ObjectOperation, ObjectStoreError, afterCall: Bool)] = []
        var injected = 0
    }
    private let state: Mutex<State>

    public init(_ base: ObjectClient, seed: UInt64, rules: [FaultRule] = []) {
        self.base = base
        state = Mutex(State(rng: seed, rules: rules))
    }

    /// The next call of `op` fails with `error` (before or after reaching the store).
    public func failNext(_ op: ObjectOperation, with error: ObjectStoreError, afterCall: Bool = false) {
        state.withLock { $0.queued.append((op, error, afterCall)) }
    }

    public func setRules(_ rules: [FaultRule]) { state.withLock { $0.rules = rules } }

    /// Drops the faults queued by `failNext` that no call took.
    public func clearQueued() { state.withLock { $0.queued.removeAll() } }

    public var faultsInjected: Int { state.withLock { $0.injected } }

    /// SplitMix64: tiny, fast and good enough to pick faults reproducibly.
    private static func next(_ x: inout UInt64) -> Double {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }

    private func decide(_ op: ObjectOperation) -> (ObjectStoreError, afterCall: Bool)? {
        state.withLock { s in
            if let i = s.queued.firstIndex(where: { $0.0 == op }) {
                let q = s.queued.remove(at: i)
                s.injected += 1
                return (q.1, q.afterCall)
            }
            for rule in s.rules where rule.operations?.contains(op) ?? true {
                if Self.next(&s.rng) < rule.probability {
                    s.injected += 1
                    return (rule.error, rule.afterCall)
                }
            }
            return nil
        }
    }

    func run<T>(_ op: ObjectOperation, _ body: () async throws -> T) async throws -> T {
        let fault = decide(op)
        if let fault, !fault.afterCall { throw fault.0 }
        let result = try await body()
        if let fault { throw fault.0 }
        return result
    }

    public func headObject(_ key: String, ifMatch: ETag?) async throws -> ObjectInfo {
        try await run(.head) { try await base.headObject(key, ifMatch: ifMatch) }
    }
    public func getObject(_ key: String, range: ByteRange?, ifMatch: ETag?, into destination: ReadDestination)
        async throws -> GetResult
    {
        try await run(.get) { try await base.getObject(key, range: range, ifMatch: ifMatch, into: destination) }
    }
    /// Faults as for `getObject`; one before the call completes at once, in the caller's thread.
    public func startGetObject(_ key: String, range: ByteRange?, ifMatch: ETag?, into buffer: MutableBytes,
                               completion: @escaping @Sendable (Result<GetResult, ObjectStoreError>) -> Void)
        -> (@Sendable () -> Void)?
    {
        let fault = decide(.get)
        if let fault, !fault.afterCall {
            completion(.failure(fault.0))
            return {}
        }
        return base.startGetObject(key, range: range, ifMatch: ifMatch, into: buffer) { result in
            completion(fault.map { .failure($0.0) } ?? result)
        }
    }

    public func putObject(_ key: String, body: UploadBody, options: WriteOptions) async throws -> WriteResult {
        try await run(.put) { try await base.putObject(key, body: body, options: options) }
    }
    public func appendObject(_ key: String, position: UInt64, body: UploadBody, options: WriteOptions,
                             previousCRC: UInt64?) async throws -> AppendResult
    {
        try await run(.append) {
            try await base.appendObject(key, position: position, body: body, options: options, previousCRC: previousCRC)
        }
    }
    public func listObjects(_ request: ListRequest) async throws -> ListPage {
        try await run(.list) { try await base.listObjects(request) }
    }
    public func deleteObject(_ key: String) async throws {
        try await run(.delete) { try await base.deleteObject(key) }
    }
    public func deleteObjects(_ keys: [String]) async throws -> [String] {
        try await run(.deleteMultiple) { try await base.deleteObjects(keys) }
    }
    public func copyObject(from source: String, to destination: String, directive: MetadataDirective,
                           sourceIfMatch: ETag?) async throws -> WriteResult
    {
        try await run(.copy) {
            try await base.copyObject(from: source, to: destination, directive: directive, sourceIfMatch: sourceIfMatch)
        }
    }
    public func initiateMultipartUpload(_ key: String, options: WriteOptions) async throws -> String {
        try await run(.initiateMultipart) { try await base.initiateMultipartUpload(key, options: options) }
    }
    public func uploadPart(_ key: String, uploadId: String, partNumber: Int, body: UploadBody) async throws -> PartInfo {
        try await run(.uploadPart) { try await base.uploadPart(key, uploadId: uploadId, partNumber: partNumber, body: body) }
    }
    public func uploadPartCopy(_ key: String, uploadId: String, partNumber: Int, source: String, range: ByteRange?,
                               sourceIfMatch: ETag?) async throws -> PartInfo
    {
        try await run(.uploadPartCopy) {
            try await base.uploadPartCopy(key, uploadId: uploadId, partNumber: partNumber, source: source, range: range,
                                          sourceIfMatch: sourceIfMatch)
        }
    }
    public func completeMultipartUpload(_ key: String, uploadId: String, parts: [PartInfo]) async throws -> WriteResult {
        try await run(.completeMultipart) { try await base.completeMultipartUpload(key, uploadId: uploadId, parts: parts) }
    }
    public func abortMultipartUpload(_ key: String, uploadId: String) async throws {
        try await run(.abortMultipart) { try await base.abortMultipartUpload(key, uploadId: uploadId) }
    }
    public func listParts(_ key: String, uploadId: String, partNumberMarker: Int?, maxParts: Int) async throws
        -> PartsPage
    {
        try await run(.listParts) {
            try await base.listParts(key, uploadId: uploadId, partNumberMarker: partNumberMarker, maxParts: maxParts)
        }
    }
    public func listMultipartUploads(prefix: String, keyMarker: String?, uploadIdMarker: String?, maxUploads: Int)
        async throws -> UploadsPage
    {
        try await run(.listUploads) {
            try await base.listMultipartUploads(prefix: prefix, keyMarker: keyMarker, uploadIdMarker: uploadIdMarker,
                                                maxUploads: maxUploads)
        }
    }
    public func putSymlink(_ key: String, target: String, options: WriteOptions) async throws -> WriteResult {
        try await run(.putSymlink) { try await base.putSymlink(key, target: target, options: options) }
    }
    public func getSymlink(_ key: String) async throws -> SymlinkInfo {
        try await run(.getSymlink) { try await base.getSymlink(key) }
    }
}
