// The prefetcher's decisions, as a plain state machine (the async shell is
// PrefetchingReader). A file is a grid of chunks. A reader that keeps reading
// where it stopped (or starts at 0) earns a window of chunks fetched ahead of the
// chunk it is in, doubling per read up to `maxWindow`. A read whose chunks are all
// resident is served from them; any other read is a direct ranged GET of just its
// bytes, so the first reads of a streak do not wait for a whole chunk (time to
// first byte) and a jump elsewhere costs one small GET and drops the window.
// Files of at most one chunk are fetched whole. One chunk behind the reader is
// kept, so small backward seeks are served from memory. With `fillSize`, a jump
// names the aligned block of that size around it (`fill`): the shell fetches the
// block and hands the kernel the part the read did not ask for, so reads near it
// are answered from the page cache; a read where that block ends continues a streak.

struct ReadaheadPlanner: Sendable {
    let chunkSize: UInt64
    let fileSize: UInt64
    let maxWindow: Int
    /// The block a jump fetches to fill the kernel's page cache with (0: none).
    let fillSize: UInt64
    /// Chunks present or being fetched.
    private(set) var resident: Set<Int> = []
    /// Chunks fetched ahead of the reader.
    private(set) var window = 0
    private var lastEnd: UInt64?
    /// Where the block the last jump filled ends: the kernel's next read of a reader
    /// that goes on from the jump comes there, past the pages it was given.
    private var filledEnd: UInt64?

    init(chunkSize: UInt64, fileSize: UInt64, maxWindow: Int, fillSize: UInt64 = 0) {
        self.chunkSize = chunkSize
        self.fileSize = fileSize
        self.maxWindow = max(1, maxWindow)
        self.fillSize = fillSize
    }

    struct Decision: Equatable, Sendable {
        /// Serve the read from these chunks (after they arrive); empty: read directly.
        var serveFrom: [Int]
        /// Chunks to start fetching now.
        var fetch: [Int]
        /// Chunks no longer worth their memory.
        var evict: [Int]
        /// A direct read's block to fetch whole, the rest going to the page cache.
        var fill: Range<UInt64>? = nil
    }

    var chunkCount: Int { Int((fileSize + chunkSize - 1) / chunkSize) }

    func range(ofChunk i: Int) -> (offset: UInt64, length: UInt64) {
        let start = UInt64(i) * chunkSize
        return (start, min(chunkSize, fileSize - start))
    }

    mutating func read(offset: UInt64, size: Int) -> Decision {
        guard offset < fileSize, size > 0 else { return Decision(serveFrom: [], fetch: [], evict: []) }
        let end = min(fileSize, offset + UInt64(size))
        let first = Int(offset / chunkSize), last = Int((end - 1) / chunkSize)
        let needed = Array(first...last)
        defer { lastEnd = end }

        if chunkCount == 1 {  // a small file: the whole object, once
            let fetch = resident.contains(0) ? [] : [0]
            resident.insert(0)
            return Decision(serveFrom: [0], fetch: fetch, evict: [])
        }
        let allResident = needed.allSatisfy(resident.contains)
        let sequential = lastEnd == offset || filledEnd == offset || (lastEnd == nil && offset == 0)
            || (allResident && window > 0)
        guard sequential else {
            // A jump: stop prefetching; keep chunks only if this read lies inside them.
            if allResident { return Decision(serveFrom: needed, fetch: [], evict: []) }
            window = 0
            let evict = resident.sorted()
            resident.removeAll()
            let fill = fillBlock(offset, end)
            filledEnd = fill?.upperBound
            return Decision(serveFrom: [], fetch: [], evict: evict, fill: fill)
        }
        if let f = filledEnd, end >= f { filledEnd = nil }
        window = window == 0 ? 1 : min(maxWindow, window * 2)
        var fetch: [Int] = []
        for i in (last + 1)..<min(chunkCount, last + 1 + window) where !resident.contains(i) {
            resident.insert(i)
            fetch.append(i)
        }
        let evict = resident.filter { $0 < first - 1 || $0 > last + window }.sorted()
        resident.subtract(evict)
        return Decision(serveFrom: allResident ? needed : [], fetch: fetch, evict: evict)
    }

    /// The aligned block(s) of `fillSize` around a jump's bytes; nil when filling is off
    /// or the read is as big as a block itself.
    private func fillBlock(_ offset: UInt64, _ end: UInt64) -> Range<UInt64>? {
        guard fillSize > 0, end - offset < fillSize else { return nil }
        let start = offset / fillSize * fillSize
        let stop = min(fileSize, (end + fillSize - 1) / fillSize * fillSize)
        return start..<stop
    }

    /// The pool had no memory for these chunks: forget them and halve the window.
    mutating func couldNotFetch(_ chunks: [Int]) {
        resident.subtract(chunks)
        window = max(1, window / 2)
    }

    /// Chunks fetched though the plan served the read directly (the local cache has them).
    mutating func adopt(_ chunks: [Int]) { resident.formUnion(chunks) }

    /// A fetch failed; the chunk must be fetched again if wanted.
    mutating func dropped(_ chunk: Int) { resident.remove(chunk) }
}
