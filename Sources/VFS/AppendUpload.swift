// Writing at the end of an Appendable object with AppendObject: an existing
// Appendable object written at its end (`>>`, O_APPEND), or any new file under
// `-o append_mode`. Bytes collect in memory and go out as one AppendObject when
// `upload_buffer_size` is reached, every `append_flush_interval` (so readers
// elsewhere see a growing log), at fsync and at close. Each append carries the
// running CRC-64, which the client checks against the server's. A write anywhere
// but the end moves the handle to a staging file (the object is then rewritten
// as a Normal object at close).
import Logging
import ObjectStore
import Synchronization

final class AppendUpload: Sendable {
    /// OSS: an Appendable object holds at most 5 GB.
    static let maxSize: UInt64 = 5 << 30

    private let client: ObjectClient
    let key: String
    /// Metadata for the append that creates the object.
    private let options: @Sendable () -> WriteOptions
    /// Pending bytes that trigger an append.
    private let threshold: Int
    private let logger: Logger

    private struct State {
        /// Where the next append goes (the object's length on OSS).
        var position: UInt64
        var crc: UInt64?
        var etag: ETag?
        var pending: [UInt8] = []
        /// An Appendable object of `position` bytes exists.
        var created: Bool
        var timer: Task<Void, Never>?
    }
    private let state: Mutex<State>
    private let gate = AsyncGate()

    /// Continues `existing` (an Appendable object), or starts a new object when nil.
    init(client: ObjectClient, key: String, existing: ObjectInfo?, options: @escaping @Sendable () -> WriteOptions,
         threshold: Int, logger: Logger) {
        self.client = client
        self.key = key
        self.options = options
        self.threshold = max(1, threshold)
        self.logger = logger
        state = Mutex(State(position: existing?.size ?? 0, crc: existing.map { $0.crc64 } ?? 0, etag: existing?.etag,
                            created: existing != nil))
    }

    var size: UInt64 { state.withLock { $0.position + UInt64($0.pending.count) } }

    /// Appends when `offset` is the end of the file; false otherwise.
    func write(offset: UInt64, bytes: [UInt8]) async throws -> Bool {
        try await gate.run { () async throws -> Bool in
            let end = size
            guard offset == end else { return false }
            guard end + UInt64(bytes.count) <= Self.maxSize else { throw VFSError.tooLarge }
            let full = state.withLock { s in
                s.pending += bytes
                return s.pending.count >= threshold
            }
            if full { _ = try await send() }
            return true
        }
    }

    /// Sends what is pending. A last close (`final`) of a file never written creates it
    /// empty. Nil when nothing was sent.
    func flush(final: Bool) async throws -> WriteResult? {
        try await gate.run { () async throws -> WriteResult? in
            let (empty, created) = state.withLock { ($0.pending.isEmpty, $0.created) }
            if empty && (created || !final) { return nil }
            return try await send()
        }
    }

    private func send() async throws -> WriteResult {
        let (position, crc, bytes) = state.withLock { ($0.position, $0.crc, $0.pending) }
        let body = UploadBody(bytes)
        let first = position == 0
        let opts = first ? options() : WriteOptions()
        let result: AppendResult
        do {
            result = try await client.appendObject(key, position: position, body: body, options: opts, previousCRC: crc)
        } catch let e as ObjectStoreError where first && (e.kind == .notAppendable || e.kind == .positionMismatch) {
            // A new (or truncated) file over an existing object: this file replaces it.
            try await client.deleteObject(key)
            result = try await client.appendObject(key, position: 0, body: body, options: opts, previousCRC: crc)
        }
        state.withLock { s in
            s.position = result.nextPosition
            s.crc = result.crc64
            s.etag = result.etag
            s.pending.removeFirst(bytes.count)
            s.created = true
        }
        return WriteResult(etag: result.etag, crc64: result.crc64)
    }

    /// Sends pending bytes every `interval` until closed; a failure is logged, and the
    /// next flush or close tries again and reports it.
    func flushPeriodically(every interval: Duration) {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                do {
                    _ = try await self.flush(final: false)
                } catch {
                    self.logger.warning("periodic append failed", metadata: ["key": "\(self.key)", "error": "\(error)"])
                }
            }
        }
        state.withLock { $0.timer = task }
    }

    /// For a switch to a staging file: stops appending and gives the object's length
    /// and ETag on OSS plus the bytes not yet sent.
    func retire() async throws -> (length: UInt64, etag: ETag?, pending: [UInt8]) {
        stop()
        return try await gate.run { () async throws -> (length: UInt64, etag: ETag?, pending: [UInt8]) in
            state.withLock { s in
                defer { s.pending = [] }
                return (s.position, s.etag, s.pending)
            }
        }
    }

    func stop() {
        state.withLock { s in
            s.timer?.cancel()
            s.timer = nil
        }
    }
}
