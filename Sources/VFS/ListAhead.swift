// Lookups answered from a listing read ahead of them. A job that opens its
// dataset's files one after another (by name, without listing the directory)
// costs a HEAD per file; once a few lookups in one directory had to ask OSS, the
// directory is listed from the last name asked on, a page (1000 names) at a time,
// the next page when half of the current one has been used. The names listed
// answer lookups for `entry_timeout`, like a HEAD's answer would; a LIST gives no
// user metadata, so such a file has default mode and owner until its attributes
// are fetched (the kernel's GETATTR then asks OSS; see `Inode.fromListing`).
//
// Pages that go unused make the next listing of that directory wait for more
// misses (2, 8, 32, ... up to 1024), so random lookups in a huge directory do not
// pay a LIST per few HEADs. Memory: at most `maxDirectories` directories of about
// a page and a half each. Any rename or delete through this mount forgets all.
import ObjectStore

struct ListAhead: Sendable {
    enum Listed: Sendable, Equatable {
        case object(ObjectSummary)
        case directory
    }

    struct Directory: Sendable {
        var entries: [ByteKey: (listed: Listed, at: Double)] = [:]
        /// Lookups that asked OSS since the last page.
        var misses = 0
        var threshold = ListAhead.firstThreshold
        var loading = false
        /// Where the listing goes on; nil: it reached the end (or never started).
        var token: String?
        /// Names added and taken since the listing last started (how useful it is).
        var added = 0
        var taken = 0
        var lastUse: Double = 0
    }

    static let firstThreshold = 2
    static let maxThreshold = 1024
    static let maxDirectories = 32

    let pageSize: Int
    private(set) var directories: [ByteKey: Directory] = [:]
    /// Bumped by `forgetAll`: pages asked for before it are dropped when they arrive.
    private var generation = 0

    init(pageSize: Int) { self.pageSize = pageSize }

    /// What to list next, when a caller should start it.
    struct Load: Sendable, Equatable {
        let directory: String
        let request: ListRequest
        let generation: Int
    }

    /// The listed entry for `name` in `directory`, if one is fresh (it is used up); and
    /// the next page to load when the current one runs low.
    mutating func take(_ directory: String, _ name: String, now: Double, ttl: Double) -> (Listed?, Load?) {
        // Moved out and back, so the entries are changed in place, not copied.
        guard var d = directories.removeValue(forKey: ByteKey(directory)) else { return (nil, nil) }
        defer { directories[ByteKey(directory)] = d }
        d.lastUse = now
        guard let e = d.entries.removeValue(forKey: ByteKey(name)), now - e.at < ttl else { return (nil, nil) }
        d.taken += 1
        var load: Load?
        if !d.loading, let token = d.token, d.entries.count < pageSize / 2 {
            d.loading = true
            load = Load(directory: directory, request: request(directory, token: token, after: nil), generation: generation)
        }
        return (e.listed, load)
    }

    /// A lookup of `name` had to ask OSS: the listing to start after it, if it is time.
    mutating func miss(_ directory: String, _ name: String, now: Double) -> Load? {
        var d = directories.removeValue(forKey: ByteKey(directory)) ?? Directory()
        d.lastUse = now
        d.misses += 1
        var load: Load?
        if !d.loading && d.misses >= d.threshold {
            // A listing whose names went mostly unused: ask for more misses next time.
            if d.added > 0 {
                d.threshold = d.taken * 4 < d.added ? min(d.threshold * 4, Self.maxThreshold) : Self.firstThreshold
            }
            d.entries = [:]
            d.misses = 0
            d.added = 0
            d.taken = 0
            d.loading = true
            load = Load(directory: directory, request: request(directory, token: nil, after: directory + name),
                        generation: generation)
        }
        directories[ByteKey(directory)] = d
        if directories.count > Self.maxDirectories,
            let oldest = directories.filter({ !$0.value.loading }).min(by: { $0.value.lastUse < $1.value.lastUse })?.key
        {
            directories[oldest] = nil
        }
        return load
    }

    /// A page arrived. Names that are both an object and a prefix show as the object,
    /// as lookup shows them.
    mutating func loaded(_ load: Load, _ page: ListPage, now: Double) {
        let directory = load.directory
        guard var d = directories.removeValue(forKey: ByteKey(directory)) else { return }
        defer { directories[ByteKey(directory)] = d }
        guard d.loading else { return }
        d.loading = false
        d.misses = 0  // lookups that missed while it loaded do not start another at once
        guard load.generation == generation else { return }
        for p in page.commonPrefixes where p.utf8.count > directory.utf8.count + 1 {
            d.entries[ByteKey(String(p.droppingBytePrefix(directory).dropLast()))] = (.directory, now)
        }
        for o in page.objects where o.key.utf8.count > directory.utf8.count {
            d.entries[ByteKey(o.key.droppingBytePrefix(directory))] = (.object(o), now)
        }
        d.added += page.objects.count + page.commonPrefixes.count
        d.token = page.isTruncated ? page.nextContinuationToken : nil
    }

    mutating func failed(_ directory: String) {
        directories[ByteKey(directory)]?.loading = false
        directories[ByteKey(directory)]?.token = nil
    }

    /// The namespace changed through this mount: what was listed may be wrong.
    mutating func forgetAll() {
        generation += 1
        for key in directories.keys {
            directories[key]?.entries = [:]
            directories[key]?.token = nil
        }
    }

    private func request(_ directory: String, token: String?, after: String?) -> ListRequest {
        ListRequest(prefix: directory, delimiter: "/", maxKeys: pageSize, continuationToken: token,
                    startAfter: token == nil ? after : nil)
    }
}

extension ObjectInfo {
    /// What a listing says of an object (no user metadata).
    init(listed o: ObjectSummary) {
        self.init(key: o.key, size: o.size, etag: o.etag, lastModified: o.lastModified, type: o.type)
    }
}

extension VFS {
    /// Lists one page for `ListAhead` in the background; lookups find its names.
    func startListAhead(_ load: ListAhead.Load) {
        Task {
            do {
                let page = try await client.listObjects(load.request)
                let now = clock.now()
                state.withLock { $0.listAhead.loaded(load, page, now: now) }
            } catch {
                state.withLock { $0.listAhead.failed(load.directory) }
            }
        }
    }
}

extension VFS {
    /// Whether a listing ahead is in flight (tests wait for it to land).
    var listAheadLoading: Bool {
        state.withLock { $0.listAhead.directories.values.contains { $0.loading } }
    }
}
