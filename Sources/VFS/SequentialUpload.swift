// The async shell around UploadPlanner for one file being written: part buffers
// from the shared pool (a writer waits for memory, it does not fail), several
// parts in flight, and a close that either PUTs a small file or uploads the last
// part and completes. Any failure aborts the multipart upload, so a failed write
// never leaves an object that looks complete. An existing object can be
// continued (appends, and writes after an fsync completed the upload): its bytes
// become the first parts by UploadPartCopy, or the part buffer when small.
// With a spill (`seekable_writes`), each part is also written to a staging file
// as it goes out, so a later seek back can still move the file to staging.
import ObjectStore
import Synchronization

final class SequentialUpload: Sendable {
    let client: ObjectClient
    let key: String
    /// Read when the object is created, so metadata changed while writing is stored with it.
    let options: @Sendable () -> WriteOptions
    let pool: BufferPool
    let concurrency: Int
    /// Makes the staging file that keeps a copy of uploaded parts (nil: keep none).
    let makeSpill: (@Sendable () throws(VFSError) -> StagingFile)?
    /// Most bytes the spill keeps; a part past it drops the spill (seek-backs: ENOTSUP).
    let spillLimit: UInt64

    private struct State {
        var planner: UploadPlanner
        var buffer: PooledBuffer?
        /// Bytes in `buffer`.
        var fill = 0
        var uploadId: String?
        var inFlight: [Task<PartInfo, Error>] = []
        var parts: [PartInfo] = []
        var failed: Error?
        /// A multipart upload was completed: the object is whole; more writes continue it.
        var completed: WriteResult?
        /// The handle moved to a staging file: this upload takes no more writes.
        var retired = false
        /// Bytes written since the last successful flush (or none yet uploaded).
        var dirty = true
        /// Parts copied from the object being continued (they precede new parts).
        var copiedParts = 0
        /// Content type and user metadata of the object being continued (kept).
        var baseOptions: WriteOptions?
        /// Bytes of a continued object that were copied server-side (they precede new parts).
        var copiedBytes: UInt64 = 0
        /// File offset of the part buffer's first byte.
        var partOffset: UInt64 = 0
        /// Holds [copiedBytes, partOffset) once parts went out; nil when none went out or the
        /// copy failed (`spillLost`).
        var spill: StagingFile?
        var spillLost = false
    }

    /// What a switch to a staging file takes over: [0, onOSS) is the object on OSS; the
    /// spill (if any) holds [onOSS, offset); `bytes` go at `offset`.
    struct Taken {
        var onOSS: UInt64
        var spill: StagingFile?
        var offset: UInt64
        var bytes: [UInt8]
    }
    private let state: Mutex<State>
    /// One write or close at a time: the kernel may send writes of one file in parallel.
    private let gate = AsyncGate()

    init(client: ObjectClient, key: String, options: @escaping @Sendable () -> WriteOptions, partSize: Int, concurrency: Int,
         pool: BufferPool, makeSpill: (@Sendable () throws(VFSError) -> StagingFile)? = nil, spillLimit: UInt64 = .max) {
        self.makeSpill = makeSpill
        self.spillLimit = spillLimit
        self.client = client
        self.key = key
        self.options = options
        self.pool = pool
        self.concurrency = max(1, concurrency)
        state = Mutex(State(planner: UploadPlanner(partSize: partSize)))
    }

    var size: UInt64 { state.withLock { $0.planner.written } }

    /// A multipart upload is under way (it took its metadata when it began).
    var isMultipart: Bool { state.withLock { $0.uploadId != nil && $0.completed == nil } }

    /// Upload options: the configured ones over a continued object's own metadata.
    private func currentOptions() -> WriteOptions { options().keeping(state.withLock { $0.baseOptions }) }

    /// Pool memory for one part (writers wait, woken by memory given back; they never
    /// fail for memory).
    private func buffer(_ size: Int) async throws -> PooledBuffer {
        try await pool.wait(for: size)
    }

    /// Appends `bytes` at `offset`; false when the write is not at the end. A write that
    /// fails (a part that could not start, a continuation that could not be copied) fails
    /// the upload for good: its bytes are not all anywhere, so no later close may store
    /// what is left (that would be a truncated object that looks whole).
    func write(offset: UInt64, bytes: [UInt8]) async throws -> Bool {
        try await gate.run { () async throws -> Bool in
            if let e = state.withLock({ $0.failed }) { throw e }
            if state.withLock({ $0.retired }) { return false }
            do {
                return try await append(offset: offset, bytes: bytes)
            } catch {
                state.withLock { $0.failed = error }
                await abort()
                throw error
            }
        }
    }

    private func append(offset: UInt64, bytes: [UInt8]) async throws -> Bool {
        if let done = state.withLock({ $0.completed }) {
            // More bytes after an fsync completed the upload: continue the object.
            guard offset == size else { return false }
            try await seed(size: size, etag: done.etag)
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
            case .tooLarge:
                throw VFSError.tooLarge
            }
        }
        return true
    }

    /// Appends `bytes` at once, in the caller's thread, when they go at the end and fit in
    /// the part buffer without filling it: no part starts and nothing waits. False when the
    /// write must take `write` (another write or close is under way, a part would start,
    /// there is no buffer and the pool has none to spare, or the upload ended).
    func writeNow(offset: UInt64, bytes: UnsafeRawBufferPointer) -> Bool {
        guard gate.tryEnter() else { return false }
        defer { gate.leave() }
        // A new part buffer when the last one went out, if the pool spares one now.
        let wanted = state.withLock { s in
            s.buffer == nil && s.failed == nil && !s.retired && s.completed == nil ? s.planner.partSize : nil
        }
        if let size = wanted {
            guard let b = pool.take(size) else { return false }
            state.withLock { $0.buffer = b }
        }
        let target = state.withLock { s -> UnsafeMutableRawBufferPointer? in
            guard s.failed == nil, !s.retired, s.completed == nil, let b = s.buffer, offset == s.planner.written,
                  s.fill + bytes.count < s.planner.partSize else { return nil }
            _ = s.planner.write(offset: offset, count: bytes.count)  // one .buffer: the part is not full
            s.dirty = true
            defer { s.fill += bytes.count }
            // Safety: fill + count < partSize == the buffer's size; the gate keeps the buffer
            // from being sent until we leave.
            return UnsafeMutableRawBufferPointer(rebasing: b.memory[s.fill..<(s.fill + bytes.count)])
        }
        guard let target else { return false }
        target.copyMemory(from: bytes)
        return true
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
        let id = try await client.initiateMultipartUpload(key, options: currentOptions())
        state.withLock { $0.uploadId = id }
        return id
    }

    /// Uploads the current buffer (the bytes filled so far) as part `number`.
    private func startPart(_ number: Int) async throws {
        let id = try await uploadId()
        let (buffer, filled, offset, waitFor): (PooledBuffer, Int, UInt64, Task<PartInfo, Error>?) = state.withLock { s in
            let b = s.buffer!
            let f = s.fill
            let o = s.partOffset
            s.buffer = nil
            s.fill = 0
            s.partOffset += UInt64(f)
            return (b, f, o, s.inFlight.count >= concurrency ? s.inFlight.removeFirst() : nil)
        }
        let spill = spillFile()
        if let waitFor { try await collect(waitFor) }
        let count = filled
        let client = self.client, key = self.key
        let task = Task {
            // Safety: the buffer is no longer written (it left the state) and lives in this Task.
            let bytes = PartBytes(pointer: UnsafeRawBufferPointer(rebasing: buffer.memory[0..<count]))
            // The copy for seek-backs goes to disk while the part goes to OSS.
            async let kept: Void = { if let file = spill { await self.keepCopy(bytes.pointer, at: offset, in: file) } }()
            let part = try await client.uploadPart(key, uploadId: id, partNumber: number,
                                                   body: UploadBody(borrowing: bytes.pointer))
            await kept
            withExtendedLifetime(buffer) {}
            return part
        }
        state.withLock { $0.inFlight.append(task) }
    }

    /// The file keeping copies of uploaded parts, made at the first part (nil: none kept).
    private func spillFile() -> StagingFile? {
        guard let makeSpill, !state.withLock({ $0.spillLost }) else { return nil }
        if let spill = state.withLock({ $0.spill }) { return spill }
        do {
            let spill = try makeSpill()
            state.withLock { $0.spill = spill }
            return spill
        } catch {
            state.withLock { $0.spillLost = true }
            return nil
        }
    }

    /// Copies a part going out into the spill; on any failure (disk full, `staging_max`)
    /// the spill is dropped and a later seek back gets ENOTSUP.
    private func keepCopy(_ bytes: UnsafeRawBufferPointer, at offset: UInt64, in file: StagingFile) async {
        do {
            if offset + UInt64(bytes.count) > spillLimit { throw VFSError.noSpace }
            try await file.writeThrough(offset: offset, raw: bytes)
        } catch {
            state.withLock { s in
                s.spill = nil
                s.spillLost = true
            }
        }
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
    /// writing: that close stores the file empty, as it then is), so a small file stays
    /// open for more writes and is PUT again if they come; a completed multipart upload
    /// is final. On failure the multipart upload is aborted and the error returned. Nil
    /// when there was nothing new to upload.
    func finish() async throws -> WriteResult? {
        try await gate.run { () async throws -> WriteResult? in
            if !state.withLock({ $0.dirty }) { return nil }
            do {
                if let e = state.withLock({ $0.failed }) { throw e }
                if state.withLock({ $0.planner.partsStarted == 0 }) {
                    let (buffer, fill) = state.withLock { s in (s.buffer, s.fill) }
                    let result: WriteResult
                    if let buffer {
                        // Safety: writes are held off by the gate while the buffer is sent.
                        let body = UploadBody(borrowing: UnsafeRawBufferPointer(rebasing: buffer.memory[0..<fill]))
                        result = try await client.putObject(key, body: body, options: currentOptions())
                        withExtendedLifetime(buffer) {}
                    } else {
                        result = try await client.putObject(key, body: .empty, options: currentOptions())
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
                    s.completed = result
                    s.dirty = false
                    s.spill = nil
                }
                return result
            } catch {
                await abort()
                state.withLock { $0.failed = error }
                throw error
            }
        }
    }

    /// For a switch to a staging file: what the handle's bytes are made of now (see
    /// Taken). The upload is retired and any multipart upload aborted. Nil when parts of
    /// new bytes went out without a spill: they exist only inside the multipart upload.
    func takeBuffered() async throws -> Taken? {
        try await gate.run { () async throws -> Taken? in
            // Parts in flight finish first: their copies must be in the spill (or have
            // failed and dropped it) before the spill is handed over.
            for t in state.withLock({ $0.completed == nil ? $0.inFlight : [] }) { _ = try? await t.value }
            let taken = state.withLock { s -> Taken? in
                let newParts = s.planner.partsStarted > s.copiedParts
                if s.completed == nil && newParts && s.spill == nil { return nil }
                let bytes = s.buffer.map { Array(UnsafeRawBufferPointer(rebasing: $0.memory[0..<s.fill])) } ?? []
                defer {
                    s.buffer = nil
                    s.fill = 0
                    s.dirty = false
                    s.retired = true
                }
                if s.completed != nil { return Taken(onOSS: s.planner.written, spill: nil, offset: s.planner.written, bytes: []) }
                return Taken(onOSS: s.copiedBytes, spill: newParts ? s.spill : nil, offset: s.partOffset, bytes: bytes)
            }
            if taken != nil, state.withLock({ $0.completed == nil }) { await abort() }
            state.withLock { $0.spill = nil }
            return taken
        }
    }

    /// Continues the existing object `info` (an append at its end): its content type and
    /// metadata are kept.
    func continueObject(_ info: ObjectInfo) async throws {
        try await gate.run { () async throws in
            state.withLock { $0.baseOptions = WriteOptions(contentType: info.contentType, userMetadata: info.userMetadata) }
            try await seed(size: info.size, etag: info.etag)
        }
    }

    /// UploadPartCopy pieces: at most this big, and none but the last under OSS's minimum.
    static let copyPiece: UInt64 = 256 << 20
    static let minimumPart: UInt64 = 100 << 10

    /// Starts over from the object's `size` bytes (tagged `etag`): read into the part
    /// buffer when they fit in one part, else copied server-side as the first parts of a
    /// new multipart upload.
    private func seed(size: UInt64, etag: ETag) async throws {
        let partSize = state.withLock { s in
            s.uploadId = nil
            s.parts = []
            s.inFlight = []
            s.completed = nil
            s.dirty = true
            s.buffer = nil
            s.fill = 0
            s.spill = nil
            s.spillLost = false
            s.copiedBytes = 0
            s.partOffset = 0
            return s.planner.basePartSize
        }
        if size <= UInt64(partSize) {
            let bytes = size == 0 ? [] : try await client.getBytes(key, range: ByteRange(0, size), ifMatch: etag)
            let b = try await buffer(partSize)
            // Safety: `bytes.count` == size <= partSize, the buffer's size.
            bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: b.memory[0..<bytes.count]).copyMemory(from: $0) }
            state.withLock { s in
                s.buffer = b
                s.fill = bytes.count
                s.copiedParts = 0
                s.planner = UploadPlanner(partSize: partSize, written: size, buffered: bytes.count, partsStarted: 0)
            }
            return
        }
        let piece = try Multipart.partSize(for: size, atLeast: Self.copyPiece)
        var starts = Array(stride(from: UInt64(0), to: size, by: Int(piece)))
        if let last = starts.last, starts.count > 1, size - last < Self.minimumPart { starts.removeLast() }
        let ranges = starts.enumerated().map { i, start in
            ByteRange(start, i + 1 < starts.count ? starts[i + 1] : size)
        }
        let id = try await uploadId()
        let client = self.client, key = self.key
        do {
            let copied = try await withThrowingTaskGroup(of: PartInfo.self) { group in
                var parts: [PartInfo] = []
                for (i, range) in ranges.enumerated() {
                    if i >= concurrency, let done = try await group.next() { parts.append(done) }
                    group.addTask {
                        try await client.uploadPartCopy(key, uploadId: id, partNumber: i + 1, source: key, range: range,
                                                        sourceIfMatch: etag)
                    }
                }
                for try await done in group { parts.append(done) }
                return parts
            }
            state.withLock { s in
                s.parts = copied
                s.copiedParts = ranges.count
                s.copiedBytes = size
                s.partOffset = size
                s.planner = UploadPlanner(partSize: partSize, written: size, buffered: 0, partsStarted: ranges.count)
            }
        } catch {
            await abort()
            state.withLock { $0.uploadId = nil }
            throw error
        }
    }

    /// Gives the part buffer back to the pool (the handle is released).
    func close() {
        state.withLock { s in
            s.buffer = nil
            s.spill = nil
        }
    }

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

/// A part's bytes, read by its upload and by its copy at the same time.
/// Safety: nobody writes the buffer while its part is in flight (it left the upload's
/// state), and the Task that owns it outlives both readers.
private struct PartBytes: @unchecked Sendable {
    let pointer: UnsafeRawBufferPointer
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
        defer { leave() }
        return try await body()
    }

    /// Enters at once when nobody is inside (then `leave` must follow); false otherwise.
    func tryEnter() -> Bool {
        state.withLock { s in
            if s.busy { return false }
            s.busy = true
            return true
        }
    }

    /// Lets the next waiter in, or opens the gate.
    func leave() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.busy = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}
