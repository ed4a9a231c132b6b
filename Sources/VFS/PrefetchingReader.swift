// The async shell around ReadaheadPlanner for one open file: it takes memory
// from the pool, runs the chunk fetches (ranged GETs pinned to the ETag seen at
// open), and copies from the chunks into the reply. Chunks are reference
// counted, so one evicted while a read still copies from it stays alive until
// that read is done.
import ObjectStore
import Synchronization

/// The bytes of one read: pieces of prefetched chunks (no copy), or an array.
public struct ReadData: @unchecked Sendable {
    // Safety: every piece points into memory owned by `owners` (chunks whose buffers are
    // written once, before their fetch completed, and never again), which this value
    // keeps alive for as long as it exists.
    private let pieces: [UnsafeRawBufferPointer]
    private let owners: [AnyObject]

    init(pieces: [UnsafeRawBufferPointer], owners: [AnyObject]) {
        self.pieces = pieces
        self.owners = owners
    }

    init(bytes: [UInt8]) {
        let box = ByteBox(bytes)
        self.init(pieces: [box.pointer], owners: [box])
    }

    public var count: Int { pieces.reduce(0) { $0 + $1.count } }

    public func withPieces<R>(_ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        withExtendedLifetime(owners) { body(pieces) }
    }

    /// The bytes as one array (tests and small callers).
    public var bytes: [UInt8] { withPieces { $0.flatMap { Array($0) } } }
}

/// An array pinned in memory for a ReadData.
final class ByteBox {
    private let storage: UnsafeMutableRawBufferPointer
    let pointer: UnsafeRawBufferPointer
    init(_ bytes: [UInt8]) {
        // Safety: memory of our own, freed in deinit, so the pointer is valid for the box's life.
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
        bytes.withUnsafeBytes { memory.copyMemory(from: $0) }
        storage = memory
        pointer = UnsafeRawBufferPointer(rebasing: memory[0..<bytes.count])
    }
    deinit { storage.deallocate() }
}

final class PrefetchingReader: Sendable {
    let client: ObjectClient
    let key: String
    let etag: ETag?
    let pool: BufferPool
    let budget: PrefetchBudget
    let metrics: ReadMetrics
    let cache: (any ChunkCache)?

    final class Chunk: Sendable {
        let buffer: PooledBuffer
        let length: Int
        let fetch: Task<Void, Error>
        init(buffer: PooledBuffer, length: Int, fetch: Task<Void, Error>) {
            self.buffer = buffer
            self.length = length
            self.fetch = fetch
        }
    }

    private struct State {
        var planner: ReadaheadPlanner
        var chunks: [Int: Chunk] = [:]
    }
    private let state: Mutex<State>

    init(client: ObjectClient, key: String, etag: ETag?, size: UInt64, chunkSize: Int, maxWindow: Int, pool: BufferPool,
         budget: PrefetchBudget, metrics: ReadMetrics, cache: (any ChunkCache)? = nil) {
        self.client = client
        self.metrics = metrics
        self.cache = etag == nil ? nil : cache
        self.key = key
        self.etag = etag
        self.pool = pool
        self.budget = budget
        state = Mutex(State(planner: ReadaheadPlanner(chunkSize: UInt64(chunkSize), fileSize: size, maxWindow: maxWindow)))
    }

    func read(offset: UInt64, size: Int) async throws -> ReadData {
        let (serve, fileSize) = state.withLock { s -> ([Chunk]?, UInt64) in
            let d = s.planner.read(offset: offset, size: size)
            for i in d.evict { s.chunks[i] = nil }
            var refused: [Int] = []
            for i in d.fetch {
                if let c = startFetch(i, &s) { s.chunks[i] = c } else { refused.append(i) }
            }
            if !refused.isEmpty { s.planner.couldNotFetch(refused) }
            guard !d.serveFrom.isEmpty else { return (cachedChunks(offset: offset, size: size, &s), s.planner.fileSize) }
            let chunks = d.serveFrom.compactMap { s.chunks[$0] }
            return (chunks.count == d.serveFrom.count ? chunks : nil, s.planner.fileSize)
        }
        let end = min(fileSize, offset + UInt64(size))
        guard offset < end else { return ReadData(bytes: []) }
        guard let serve else {
            // Direct: first read of a streak, a jump, or no memory for chunks.
            metrics.prefetchMisses.increment()
            return ReadData(bytes: try await client.getBytes(key, range: ByteRange(offset, end), ifMatch: etag))
        }
        metrics.prefetchHits.increment()
        var pieces: [UnsafeRawBufferPointer] = []
        let chunkSize = state.withLock { $0.planner.chunkSize }
        for (n, c) in serve.enumerated() {
            do {
                try await c.fetch.value
            } catch {
                let index = Int(offset / chunkSize) + n
                state.withLock { s in
                    if s.chunks[index] === c { s.chunks[index] = nil }
                    s.planner.dropped(index)
                }
                throw error
            }
            let chunkStart = (offset / chunkSize + UInt64(n)) * chunkSize
            let from = Int(max(offset, chunkStart) - chunkStart)
            let to = Int(min(end, chunkStart + UInt64(c.length)) - chunkStart)
            if from < to { pieces.append(UnsafeRawBufferPointer(rebasing: c.buffer.memory[from..<to])) }
        }
        return ReadData(pieces: pieces, owners: serve)
    }

    /// With the local cache on, a read the plan would serve directly is served from
    /// chunks instead when the cache holds every chunk it touches (they are loaded from
    /// it), or when it is the file's first (a whole-file read starts there: its first
    /// chunk must reach the cache too); else nil.
    private func cachedChunks(offset: UInt64, size: Int, _ s: inout State) -> [Chunk]? {
        guard let cache, let etag, offset < s.planner.fileSize, size > 0 else { return nil }
        let chunkSize = s.planner.chunkSize
        let end = min(s.planner.fileSize, offset + UInt64(size))
        let needed = Array(Int(offset / chunkSize)...Int((end - 1) / chunkSize))
        guard offset == 0 || needed.allSatisfy({ i in
            s.chunks[i] != nil || cache.contains(chunkID(i, length: Int(s.planner.range(ofChunk: i).length), etag: etag))
        }) else { return nil }
        var served: [Chunk] = []
        for i in needed {
            if let c = s.chunks[i] {
                served.append(c)
            } else if let c = startFetch(i, &s) {
                s.chunks[i] = c
                served.append(c)
            } else {
                return nil
            }
        }
        s.planner.adopt(needed)
        return served
    }

    private func chunkID(_ i: Int, length: Int, etag: ETag) -> ChunkID {
        ChunkID(key: key, etag: etag.value, index: i, length: length)
    }

    /// Starts fetching chunk `i` into pool memory (from the local cache when it has it);
    /// nil when the pool is full or the mount has as many prefetch GETs in flight as it
    /// allows. A chunk fetched from OSS is then kept in the cache.
    private func startFetch(_ i: Int, _ s: inout State) -> Chunk? {
        let (start, length) = s.planner.range(ofChunk: i)
        guard budget.take() else { return nil }
        guard let buffer = pool.take(Int(length)) else {
            budget.give()
            return nil
        }
        let whole = s.planner.chunkCount == 1
        let client = self.client, key = self.key, etag = self.etag, budget = self.budget, metrics = self.metrics
        let cached = cache.flatMap { c in etag.map { (c, chunkID(i, length: Int(length), etag: $0)) } }
        let task = Task {
            defer { budget.give() }
            let dest = MutableBytes(buffer.memory)
            if let (cache, id) = cached {
                if await cache.load(id, into: dest) {
                    metrics.cacheHits.increment()
                    return
                }
                metrics.cacheMisses.increment()
            }
            // A file of one chunk is read whole, so its CRC-64 is checked too.
            let got = try await client.getObject(key, range: whole ? nil : ByteRange(offset: start, length: length),
                                                 ifMatch: etag, into: .buffer(dest))
            guard UInt64(got.bytesRead) == length else {
                throw ObjectStoreError.invalidResponse("short chunk \(i) of \(key): \(got.bytesRead) of \(length)")
            }
            if let (cache, id) = cached {
                // Written to disk after the chunk is served; the buffer stays the pool's
                // until then.
                Task {
                    await cache.store(id, from: UploadBody(borrowing: UnsafeRawBufferPointer(buffer.memory)))
                    withExtendedLifetime(buffer) {}
                }
            }
        }
        return Chunk(buffer: buffer, length: Int(length), fetch: task)
    }

    /// Drops every chunk (the handle was released).
    func close() {
        let chunks = state.withLock { s in
            defer { s.chunks.removeAll() }
            return Array(s.chunks.values)
        }
        for c in chunks { c.fetch.cancel() }
    }
}

/// The whole mount's prefetch GETs in flight: a reader whose next chunk finds none
/// left reads directly, as when the memory pool is short.
final class PrefetchBudget: Sendable {
    let limit: Int
    private let inFlight = Mutex((now: 0, peak: 0))

    init(limit: Int) { self.limit = max(1, limit) }

    func take() -> Bool {
        inFlight.withLock { n in
            guard n.now < limit else { return false }
            n.now += 1
            n.peak = max(n.peak, n.now)
            return true
        }
    }

    func give() { inFlight.withLock { $0.now -= 1 } }

    /// GETs in flight now, and the most there ever were at once.
    var used: Int { inFlight.withLock { $0.now } }
    var peak: Int { inFlight.withLock { $0.peak } }
}
