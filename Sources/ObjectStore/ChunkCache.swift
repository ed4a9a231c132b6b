// The seam between the read path and a local data cache (`cache_dir`): blocks of
// an object's bytes, named by key, ETag and chunk, so a replaced object's blocks
// are never asked for. The VFS reads and fills it; the DataCache module keeps it
// on disk.

/// One chunk of one version of an object.
public struct ChunkID: Hashable, Sendable, CustomStringConvertible {
    public var key: String
    public var etag: String
    public var index: Int
    /// Bytes in the chunk (the last one of an object is shorter).
    public var length: Int

    public init(key: String, etag: String, index: Int, length: Int) {
        self.key = key
        self.etag = etag
        self.index = index
        self.length = length
    }

    public var description: String { "\(key) (ETag \(etag)) chunk \(index)" }
}

public protocol ChunkCache: Sendable {
    /// Whether the cache holds the chunk now (one look at an index: no I/O).
    func contains(_ id: ChunkID) -> Bool
    /// Fills `into` (`id.length` bytes) when the cache holds the chunk whole and intact;
    /// false otherwise (a damaged block is dropped, never served).
    func load(_ id: ChunkID, into: MutableBytes) async -> Bool
    /// Fills `into` (range.count bytes) with bytes `range` of the chunk (offsets inside it)
    /// when the cache holds them intact; only the pages the range touches are read and
    /// checked. false otherwise. It waits for the disk in the caller's thread: call it
    /// only from one that may block (FUSE's own, a blocking-I/O queue), never from the
    /// cooperative pool.
    func readNow(_ id: ChunkID, range: Range<Int>, into: MutableBytes) -> Bool
    /// Keeps a copy of the chunk's bytes; the caller keeps `bytes` alive until it returns.
    func store(_ id: ChunkID, from bytes: UploadBody) async
}
