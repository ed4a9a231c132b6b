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

/// A read asked from a thread that may block: its bytes now, or the rest to await.
public enum ImmediateRead: Sendable {
    case done(ReadData)
    case later(@Sendable () async throws(VFSError) -> ReadData)
    /// Bytes on their way: `wait` calls its argument once, from the thread they arrive on,
    /// with them, or with nil when fetching failed: then `otherwise` gives the error (or
    /// the bytes, fetched again).
    case whenArrived(_ wait: @Sendable (@escaping @Sendable (ReadData?) -> Void) -> Void,
                     otherwise: @Sendable () async throws(VFSError) -> ReadData)
}

/// Bytes pinned in memory for a ReadData.
final class ByteBox: @unchecked Sendable {
    // Safety: filled once (an array copied in, or a cache read into `slice`s) before the
    // box is handed to a ReadData, then only read.
    private let storage: UnsafeMutableRawBufferPointer
    let pointer: UnsafeRawBufferPointer
    /// The pool's memory the box is, when it is (given back when the box goes).
    private let pooled: PooledBuffer?
    init(count: Int) {
        // Safety: memory of our own, freed in deinit, so the pointer is valid for the box's life.
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, count), alignment: 16)
        pointer = UnsafeRawBufferPointer(rebasing: storage[0..<count])
        pooled = nil
    }
    /// The pool's memory, reused and counted against `total_mem_limit` (a jump's block).
    init(_ buffer: PooledBuffer) {
        // Safety: the buffer is kept (and its memory valid) for as long as the box.
        storage = buffer.memory
        pointer = UnsafeRawBufferPointer(buffer.memory)
        pooled = buffer
    }
    convenience init(_ bytes: [UInt8]) {
        self.init(count: bytes.count)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
    }
    /// `count` bytes from `offset`, to be filled.
    func slice(_ offset: Int, _ count: Int) -> MutableBytes {
        MutableBytes(UnsafeMutableRawBufferPointer(rebasing: storage[offset..<(offset + count)]))
    }
    deinit { if pooled == nil { storage.deallocate() } }
}

final class PrefetchingReader: Sendable {
    let client: ObjectClient
    let key: String
    let etag: ETag?
    let pool: BufferPool
    let budget: PrefetchBudget
    let metrics: ReadMetrics
    let cache: (any ChunkCache)?
    let fill: PageFill?

    final class Chunk: Sendable {
        let buffer: PooledBuffer
        let length: Int
        let fetch: ChunkFetch
        init(buffer: PooledBuffer, length: Int, fetch: ChunkFetch) {
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
         budget: PrefetchBudget, metrics: ReadMetrics, cache: (any ChunkCache)? = nil, fill: PageFill? = nil) {
        self.client = client
        self.fill = fill
        self.metrics = metrics
        self.cache = etag == nil ? nil : cache
        self.key = key
        self.etag = etag
        self.pool = pool
        self.budget = budget
        state = Mutex(State(planner: ReadaheadPlanner(chunkSize: UInt64(chunkSize), fileSize: size, maxWindow: maxWindow,
                                                      fillSize: fill?.size ?? 0)))
    }

    /// A read as planned: the planner's state has moved, fetches have started.
    struct Plan: Sendable {
        let offset: UInt64
        let end: UInt64
        let chunkSize: UInt64
        let fileSize: UInt64
        /// The chunks that serve it; nil: read directly (first read of a streak, a jump,
        /// or no memory for chunks).
        let serve: [Chunk]?
        /// For a direct read: the block to fetch around it, the rest going to the kernel.
        var fill: Range<UInt64>? = nil
    }

    func read(offset: UInt64, size: Int) async throws -> ReadData {
        let p = plan(offset: offset, size: size, mayBlock: false)
        if let data = readyNow(p, mayBlock: false) { return data }
        return try await finish(p)
    }

    /// Most bytes of a file of one chunk that `plan` loads from the local cache in the
    /// caller's thread (under the reader's lock) when it may block: a sample of a dataset,
    /// not a shard.
    static let smallFileLoadedNow = 1 << 20

    /// Decides the read, with no waiting but (when `mayBlock`) the local cache's read of a
    /// small file's only chunk.
    func plan(offset: UInt64, size: Int, mayBlock: Bool) -> Plan {
        // The chunks are decided under the lock; their GETs (signing, handing to the
        // transport) start after it, so another read of this file does not wait for them.
        var gets: [ChunkGet] = []
        var wholeFileForAJump: Chunk?
        let plan = state.withLock { s in
            let d = s.planner.read(offset: offset, size: size)
            for i in d.evict { s.chunks[i] = nil }
            var refused: [Int] = []
            let loadNow = mayBlock && s.planner.chunkCount == 1 && s.planner.fileSize <= UInt64(Self.smallFileLoadedNow)
            for i in d.fetch {
                // Looked for in the local cache here (a miss then goes straight to OSS), or by the fetch.
                let c = loadNow ? loadFromCache(i, &s) ?? newFetch(i, &s, lookInCache: false, &gets)
                    : newFetch(i, &s, lookInCache: true, &gets)
                if let c { s.chunks[i] = c } else { refused.append(i) }
            }
            if !refused.isEmpty { s.planner.couldNotFetch(refused) }
            if s.planner.chunkCount == 1, offset > 0, d.fetch == [0] { wholeFileForAJump = s.chunks[0] }
            var serve: [Chunk]?
            if d.serveFrom.isEmpty {
                serve = cachedChunks(offset: offset, size: size, &s, &gets)
            } else {
                let chunks = d.serveFrom.compactMap { s.chunks[$0] }
                serve = chunks.count == d.serveFrom.count ? chunks : nil
            }
            return Plan(offset: offset, end: min(s.planner.fileSize, offset + UInt64(size)), chunkSize: s.planner.chunkSize,
                        fileSize: s.planner.fileSize, serve: serve, fill: serve == nil ? d.fill : nil)
        }
        for g in gets { g.start() }
        if let chunk = wholeFileForAJump { offerWhenArrived(chunk, except: plan.offset..<plan.end) }
        return plan
    }

    /// A file of one chunk whose first read was not at its start (a footer, an index, a
    /// record at an offset) is fetched whole anyway: once it arrived, the rest of it goes
    /// to the kernel's page cache too, so the reads that follow do not come here.
    private func offerWhenArrived(_ chunk: Chunk, except read: Range<UInt64>) {
        guard let fill else { return }
        chunk.fetch.whenDone { error in
            guard error == nil else { return }
            fill.offer(UnsafeRawBufferPointer(rebasing: chunk.buffer.memory[0..<chunk.length]), owner: chunk, at: 0,
                       except: read)
        }
    }

    /// The read's bytes when they are here already: its chunks all arrived, or (when
    /// `mayBlock`: the caller's thread may wait on local file I/O) the local cache holds
    /// the range. nil: `finish` it.
    func readyNow(_ p: Plan, mayBlock: Bool) -> ReadData? {
        guard p.offset < p.end else { return ReadData(bytes: []) }
        guard let serve = p.serve else {
            guard mayBlock, let data = cachedRange(p) else { return nil }
            metrics.cacheHits.increment()
            return data
        }
        guard serve.allSatisfy({ $0.fetch.isArrived }) else { return nil }
        metrics.prefetchHits.increment()
        return pieces(p, serve)
    }

    /// For a read served from chunks still arriving: calls `deliver` once, from the thread
    /// the last of them arrives on, with the read's bytes; with nil when one failed (then
    /// `finish` gives the error and drops the chunk).
    func whenArrived(_ p: Plan, _ deliver: @escaping @Sendable (ReadData?) -> Void) {
        guard let serve = p.serve, !serve.isEmpty, p.offset < p.end else { return deliver(nil) }
        let count = ArrivalCount(serve.count)
        for c in serve {
            c.fetch.whenDone { [self] error in
                let (last, failed) = count.arrive(failed: error != nil)
                guard last else { return }
                if failed { return deliver(nil) }
                metrics.prefetchHits.increment()
                deliver(pieces(p, serve))
            }
        }
    }

    /// A read no chunk serves (a jump, the first of a streak), started in this thread
    /// without a Task: one ranged GET into memory of its own (of the block around a jump,
    /// whose rest then goes to the kernel's page cache); `deliver` is called from the
    /// transport's thread with the bytes, or with nil when that one try failed (then
    /// `finish` reads it again, with retries). False: the client cannot start it so.
    func startDirectRead(_ p: Plan, _ deliver: @escaping @Sendable (ReadData?) -> Void) -> Bool {
        guard p.serve == nil, p.offset < p.end else { return false }
        let block = blockBox(p)
        let range = block?.range ?? p.offset..<p.end
        let count = Int(range.upperBound - range.lowerBound)
        let box = block?.box ?? ByteBox(count: count)
        let fill = block == nil ? nil : self.fill
        let metrics = self.metrics
        let started = client.startGetObject(key, range: ByteRange(range.lowerBound, range.upperBound), ifMatch: etag,
                                            into: box.slice(0, count)) { result in
            guard case .success(let got) = result, got.bytesRead == count else { return deliver(nil) }
            metrics.prefetchMisses.increment()
            let read = Int(p.offset - range.lowerBound)..<Int(p.end - range.lowerBound)
            deliver(ReadData(pieces: [UnsafeRawBufferPointer(rebasing: box.pointer[read])], owners: [box]))
            fill?.offer(box, at: range.lowerBound, except: p.offset..<p.end)
        }
        return started != nil
    }

    /// Waits for what the read needs, or reads it directly.
    func finish(_ p: Plan) async throws -> ReadData {
        guard p.offset < p.end else { return ReadData(bytes: []) }
        guard let serve = p.serve else {
            // Off the cooperative pool: the cache's pages are read with blocking I/O.
            if cache != nil, let data = try? await BlockingIO.run({ self.cachedRange(p) }) {
                metrics.cacheHits.increment()
                return data
            }
            metrics.prefetchMisses.increment()
            return ReadData(bytes: try await client.getBytes(key, range: ByteRange(p.offset, p.end), ifMatch: etag))
        }
        metrics.prefetchHits.increment()
        for (n, c) in serve.enumerated() {
            do {
                try await c.fetch.value()
            } catch {
                let index = Int(p.offset / p.chunkSize) + n
                state.withLock { s in
                    if s.chunks[index] === c { s.chunks[index] = nil }
                    s.planner.dropped(index)
                }
                throw error
            }
        }
        return pieces(p, serve)
    }

    /// The read's bytes in its chunks (all arrived).
    private func pieces(_ p: Plan, _ serve: [Chunk]) -> ReadData {
        var pieces: [UnsafeRawBufferPointer] = []
        for (n, c) in serve.enumerated() {
            let chunkStart = (p.offset / p.chunkSize + UInt64(n)) * p.chunkSize
            let from = Int(max(p.offset, chunkStart) - chunkStart)
            let to = Int(min(p.end, chunkStart + UInt64(c.length)) - chunkStart)
            if from < to { pieces.append(UnsafeRawBufferPointer(rebasing: c.buffer.memory[from..<to])) }
        }
        return ReadData(pieces: pieces, owners: serve)
    }

    /// With the local cache on, the file's first read (a whole-file read starts there: its
    /// first chunk must reach the cache too) is served from chunks instead of directly.
    private func cachedChunks(offset: UInt64, size: Int, _ s: inout State, _ gets: inout [ChunkGet]) -> [Chunk]? {
        guard cache != nil, etag != nil, offset == 0, size > 0, s.planner.fileSize > 0 else { return nil }
        let chunkSize = s.planner.chunkSize
        let end = min(s.planner.fileSize, offset + UInt64(size))
        let needed = Array(Int(offset / chunkSize)...Int((end - 1) / chunkSize))
        var served: [Chunk] = []
        for i in needed {
            if let c = s.chunks[i] {
                served.append(c)
            } else if let c = newFetch(i, &s, lookInCache: true, &gets) {
                s.chunks[i] = c
                served.append(c)
            } else {
                return nil
            }
        }
        s.planner.adopt(needed)
        return served
    }

    /// A direct read (a jump) served from the local cache when it holds every chunk the
    /// read touches: just the pages of the range are read and checked, not whole chunks;
    /// of a jump's block, when the cache holds all of it, the rest going to the kernel.
    /// Blocks on file I/O.
    private func cachedRange(_ p: Plan) -> ReadData? {
        guard let cache, let etag else { return nil }
        if let fill, let (block, box) = blockBox(p), readCached(block, into: box, p, cache, etag) {
            fill.offer(box, at: block.lowerBound, except: p.offset..<p.end)
            let read = Int(p.offset - block.lowerBound)..<Int(p.end - block.lowerBound)
            return ReadData(pieces: [UnsafeRawBufferPointer(rebasing: box.pointer[read])], owners: [box])
        }
        let box = ByteBox(count: Int(p.end - p.offset))
        return readCached(p.offset..<p.end, into: box, p, cache, etag) ? ReadData(pieces: [box.pointer], owners: [box]) : nil
    }

    /// A direct read's block to fetch whole for the kernel's page cache, in pool memory;
    /// nil when it has none (not a jump, filling off) or the pool has no room (then just
    /// the read's bytes are fetched).
    private func blockBox(_ p: Plan) -> (range: Range<UInt64>, box: ByteBox)? {
        guard let block = p.fill, let buffer = pool.take(Int(block.upperBound - block.lowerBound)) else { return nil }
        return (block, ByteBox(buffer))
    }

    /// Reads `range` from the local cache into `box`; false unless it holds every chunk
    /// the bytes are in.
    private func readCached(_ range: Range<UInt64>, into box: ByteBox, _ p: Plan, _ cache: any ChunkCache, _ etag: ETag)
        -> Bool
    {
        var at = 0
        for i in Int(range.lowerBound / p.chunkSize)...Int((range.upperBound - 1) / p.chunkSize) {
            let start = UInt64(i) * p.chunkSize
            let id = chunkID(i, length: Int(min(p.chunkSize, p.fileSize - start)), etag: etag)
            let piece = Int(max(range.lowerBound, start) - start)..<Int(min(range.upperBound, start + UInt64(id.length)) - start)
            guard cache.readNow(id, range: piece, into: box.slice(at, piece.count)) else { return false }
            at += piece.count
        }
        return true
    }

    private func chunkID(_ i: Int, length: Int, etag: ETag) -> ChunkID {
        ChunkID(key: key, etag: etag.value, index: i, length: length)
    }

    /// Chunk `i` read from the local cache now, in this thread; nil when the cache does not
    /// hold it intact or the pool has no memory for it.
    private func loadFromCache(_ i: Int, _ s: inout State) -> Chunk? {
        guard let cache, let etag else { return nil }
        let length = Int(s.planner.range(ofChunk: i).length)
        let id = chunkID(i, length: length, etag: etag)
        guard let buffer = pool.take(length), cache.readNow(id, range: 0..<length, into: MutableBytes(buffer.memory)) else {
            return nil
        }
        metrics.cacheHits.increment()
        return Chunk(buffer: buffer, length: length, fetch: .arrived())
    }

    /// A chunk `i` to fetch into pool memory (from the local cache when it has it and
    /// `lookInCache`), its GET added to `gets` for the caller to start once the lock is
    /// released; nil when the pool is full or the mount has as many prefetch GETs in flight
    /// as it allows. A chunk fetched from OSS is then kept in the cache.
    private func newFetch(_ i: Int, _ s: inout State, lookInCache: Bool, _ gets: inout [ChunkGet]) -> Chunk? {
        let (start, length) = s.planner.range(ofChunk: i)
        guard budget.take() else { return nil }
        guard let buffer = pool.take(Int(length)) else {
            budget.give()
            return nil
        }
        // A file of one chunk is read whole, so its CRC-64 is checked too.
        let range = s.planner.chunkCount == 1 ? nil : ByteRange(offset: start, length: length)
        let fetch = ChunkFetch()
        gets.append(ChunkGet(client: client, key: key, etag: etag, index: i, range: range, length: Int(length),
                             buffer: buffer, fetch: fetch, budget: budget, metrics: metrics, lookInCache: lookInCache,
                             cached: cache.flatMap { c in etag.map { (c, chunkID(i, length: Int(length), etag: $0)) } }))
        return Chunk(buffer: buffer, length: Int(length), fetch: fetch)
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
