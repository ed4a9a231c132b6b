// The stat cache beyond the kernel's: attributes of files whose inodes the kernel
// forgot (memory pressure, drop_caches, a walk over more files than its dentry cache
// holds), kept for what is left of their `entry_timeout`, so that the next lookup of
// the name needs no HEAD, as s3fs's stat cache (`max_stat_cache_size`) outlives the
// kernel's. At most `capacity` files, the oldest dropped first.
//
// A key here has no inode: binding one to it takes the entry (InodeTable), and a
// change of the key through this mount (unlink, rename) drops it. Directories are not
// kept (their mtime follows changes made through their inode).
import ObjectStore

struct ForgottenFiles: Sendable {
    struct File: Sendable {
        var kind: FileKind
        var attributes: FileAttributes
        var etag: ETag
        var validatedAt: Double
        var fromListing: Bool
    }

    let capacity: Int
    private var files: [ByteKey: (file: File, stamp: UInt64)] = [:]
    /// Keys in the order they were kept, with the stamp they were kept under (an entry
    /// taken or dropped before it comes up leaves a stale pair, skipped then).
    private var order: [(key: ByteKey, stamp: UInt64)] = []
    private var head = 0
    private var stamp: UInt64 = 0

    init(capacity: Int) { self.capacity = max(0, capacity) }

    var count: Int { files.count }

    mutating func keep(_ key: String, _ file: File) {
        guard capacity > 0 else { return }
        stamp += 1
        let k = ByteKey(key)
        files[k] = (file, stamp)
        order.append((k, stamp))
        while files.count > capacity, head < order.count {
            let (oldest, s) = order[head]
            head += 1
            if files[oldest]?.stamp == s { files[oldest] = nil }
        }
        // Popped and stale pairs are shed once they outnumber the live ones (a file
        // forgotten over and over leaves one pair per time).
        if order.count > 2 * files.count + 1024 {
            order = files.map { (key: $0.key, stamp: $0.value.stamp) }.sorted { $0.stamp < $1.stamp }
            head = 0
        }
    }

    /// Pairs in the queue (live or stale), for tests.
    var queued: Int { order.count - head }

    /// The file kept for `key`, removed; nil when none was, or it is `ttl` old.
    mutating func take(_ key: String, now: Double, ttl: Double) -> File? {
        guard let (file, _) = files.removeValue(forKey: ByteKey(key)), now - file.validatedAt < ttl else { return nil }
        return file
    }

    mutating func drop(_ key: String) {
        if !files.isEmpty { files[ByteKey(key)] = nil }
    }

    /// Drops every key under `prefix` (a directory renamed or replaced).
    mutating func drop(prefix: String) {
        guard !files.isEmpty else { return }
        files = files.filter { !$0.key.string.hasBytePrefix(prefix) }
    }
}
