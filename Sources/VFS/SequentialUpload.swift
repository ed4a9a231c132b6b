// The async shell around UploadPlanner for one file being written: part buffers
// from the shared pool (a writer waits for memory, it does not fail), several
// parts in flight, and a close that either PUTs a small file or uploads the last
// part and completes. Any failure aborts the multipart upload, so a failed write
// never leaves an object that looks complete.
import ObjectStore
import Synchronization

final class SequentialUpload: Sendable {
    let client: ObjectClient
    let key: String
    /// Read when the object is created, so metadata changed while writing is stored with it.
    let options: @Sendable () -> WriteOptions
    let pool: BufferPool
    let concurrency: Int

    private struct State {
        var planner: UploadPlanner
        var buffer: PooledBuffer?
        /// Bytes in `buffer`.
        var fill = 0
        var uploadId: String?
        var inFlight: [Task<PartInfo, Error>] = []
        var parts: [PartInfo] = []
        var failed: Error?
        /// A multipart upload was completed: the object is final.
        var completed = false
        /// Bytes written since the last successful flush (or none yet uploaded).
        var dirty = true
    }
    private let state: Mutex<State>
    /// One write or close at a time: the kernel may send writes of one file in parallel.
    private let gate = AsyncGate()

    init(client: ObjectClient, key: String, options: @escaping @Sendable () -> WriteOptions, partSize: Int, concurrency: Int,
         pool: BufferPool) {
        self.client = client
        self.key = key
        self.options = options
        self.pool = pool
        self.concurrency = max(1, concurrency)
        state = Mutex(State(planner: UploadPlanner(partSize: partSize)))
    }

    var size: UInt64 { state.withLock { $0.planner.written } }

    /// Waits for pool memory for one part (writers wait; they never fail for memory).
    private func buffer(_ size: Int) async throws -> PooledBuffer {
        var delay: Duration = .milliseconds(1)
        while true {
            if let b = pool.take(size) { return b }
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(50))
        }
    }

    /// Appends `bytes` at `offset`; false when the write is not at the end.
    func write(offset: UInt64, bytes: [UInt8]) async throws -> Bool {
        try await gate.run { () async throws -> Bool in
            if let e = state.withLock({ $0.failed }) { throw e }
            if state.withLock({ $0.completed }) {
                throw ObjectStoreError.invalidResponse("write to \(key) after its multipart upload was completed")
            }
            let actions = state.withLock { s in
                s.dirty = true
                return s.planner.write(offset: offset, count: bytes.count)
            }
            var consumed = 0
            for action in actions {
                switch action {
                case .notSequential:
                    return false
                case .buffer(let n):
                    let current = try await currentBuffer()
                    let start = state.withLock { s in
                        defer { s.fill += n }
                        return s.fill
                    }
                    // Safety: the planner never puts more than a part's size into a part, and
                    // `current` has the part's size; [consumed, consumed+n) lies inside `bytes`.
                    bytes.withUnsafeBytes { src in
                        UnsafeMutableRawBufferPointer(rebasing: current.memory[start..<(start + n)])
                            .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[consumed..<(consumed + n)]))
                    }
                    consumed += n
                case .uploadPart(let number):
                    try await startPart(number)
                }
            }
            return true
        }
    }

    private func currentBuffer() async throws -> PooledBuffer {
        if let b = state.withLock({ $0.buffer }) { return b }
        let size = state.withLock { $0.planner.partSize }
        let b = try await buffer(size)
        state.withLock { $0.buffer = b }
        return b
    }

    private func uploadId() async throws -> String {
        if let id = state.withLock({ $0.uploadId }) { return id }
        let id = try await client.initiateMultipartUpload(key, options: options())
        state.withLock { $0.uploadId = id }
        return id
    }

    /// Uploads the current buffer (the bytes filled so far) as part `number`.
    private func startPart(_ number: Int) async throws {
        let id = try await uploadId()
        let (buffer, filled, waitFor): (PooledBuffer, Int, Task<PartInfo, Error>?) = state.withLock { s in
            let b = s.buffer!
            let f = s.fill
            s.buffer = nil
            s.fill = 0
            return (b, f, s.inFlight.count >= concurrency ? s.inFlight.removeFirst() : nil)
        }
        if let waitFor { try await collect(waitFor) }
        let count = filled
        let client = self.client, key = self.key
        let task = Task {
            // Safety: the buffer is no longer written (it left the state) and lives in this Task.
            let body = UploadBody(borrowing: UnsafeRawBufferPointer(rebasing: buffer.memory[0..<count]))
            let part = try await client.uploadPart(key, uploadId: id, partNumber: number, body: body)
            withExtendedLifetime(buffer) {}
            return part
        }
        state.withLock { $0.inFlight.append(task) }
    }

    private func collect(_ task: Task<PartInfo, Error>) async throws {
        do {
            let part = try await task.value
            state.withLock { $0.parts.append(part) }
        } catch {
            state.withLock { $0.failed = error }
            throw error
        }
    }

    /// Makes the object whole on OSS: PutObject for a small file, else the last part and
    /// Complete. Called at every close of a descriptor (a shell's `>` closes a dup before
    /// writing), so a small file stays open for more writes and is PUT again if they come;
    /// a completed multipart upload is final. On failure the multipart upload is aborted
    /// and the error returned. Nil when there was nothing new to upload.
    ///
    /// A close before any byte was written (`dd` and shells close a duplicate descriptor
    /// before writing) uploads nothing unless `final`: an empty object must not stand in
    /// for a file about to be written. The last close (release) creates it.
    func finish(final: Bool = false) async throws -> WriteResult? {
        try await gate.run { () async throws -> WriteResult? in
            if !state.withLock({ $0.dirty }) { return nil }
            if !final && state.withLock({ $0.planner.written == 0 }) { return nil }
            do {
                if let e = state.withLock({ $0.failed }) { throw e }
                if state.withLock({ $0.planner.partsStarted == 0 }) {
                    let (buffer, fill) = state.withLock { s in (s.buffer, s.fill) }
                    let result: WriteResult
                    if let buffer {
                        // Safety: writes are held off by the gate while the buffer is sent.
                        let body = UploadBody(borrowing: UnsafeRawBufferPointer(rebasing: buffer.memory[0..<fill]))
                        result = try await client.putObject(key, body: body, options: options())
                        withExtendedLifetime(buffer) {}
                    } else {
                        result = try await client.putObject(key, body: .empty, options: options())
                    }
                    state.withLock { $0.dirty = false }
                    return result
                }
                guard case .complete(let last) = state.withLock({ $0.planner.finish() }) else { return nil }
                if let last { try await startPart(last) }
                let pending = state.withLock { s in
                    defer { s.inFlight.removeAll() }
                    return s.inFlight
                }
                for t in pending { try await collect(t) }
                let parts = state.withLock { $0.parts.sorted { $0.number < $1.number } }
                let result = try await client.completeMultipartUpload(key, uploadId: try await uploadId(), parts: parts)
                state.withLock { s in
                    s.completed = true
                    s.dirty = false
                }
                return result
            } catch {
                await abort()
                state.withLock { $0.failed = error }
                throw error
            }
        }
    }

    /// For a switch to a staging file: the bytes written so far, while they are all still
    /// in memory (no part uploaded yet); the upload is then retired. Nil once parts went out.
    func takeBufferedIfSmall() async throws -> [UInt8]? {
        try await gate.run { () async throws -> [UInt8]? in
            state.withLock { s in
                guard s.planner.partsStarted == 0 else { return nil }
                let bytes = s.buffer.map { Array(UnsafeRawBufferPointer(rebasing: $0.memory[0..<s.fill])) } ?? []
                s.buffer = nil
                s.fill = 0
                s.dirty = false
                s.completed = true
                return bytes
            }
        }
    }

    /// Gives the part buffer back to the pool (the handle is released).
    func close() { state.withLock { $0.buffer = nil } }

    /// Drops the upload: pending parts are cancelled, the multipart upload aborted.
    func abort() async {
        let (tasks, id) = state.withLock { s in
            defer {
                s.inFlight.removeAll()
                s.buffer = nil
            }
            return (s.inFlight, s.uploadId)
        }
        for t in tasks { t.cancel() }
        if let id { try? await client.abortMultipartUpload(key, uploadId: id) }
    }
}

/// Runs async sections one at a time, in arrival order.
final class AsyncGate: Sendable {
    private let state = Mutex<(busy: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func run<T>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let go = state.withLock { s -> Bool in
                if s.busy {
                    s.waiters.append(c)
                    return false
                }
                s.busy = true
                return true
            }
            if go { c.resume() }
        }
        defer {
            let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if s.waiters.isEmpty {
                    s.busy = false
                    return nil
                }
                return s.waiters.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
