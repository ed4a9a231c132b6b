// VFS: the filesystem over an ObjectClient. Names become keys under the mount
// prefix; files are objects, directories are prefixes (with or without a
// `dir/` marker object). This file holds the state and the metadata paths
// (lookup, getattr, forget, readlink, statfs); listing is in VFS+Directory,
// reading in VFS+Read.
import CoreMetrics
import Logging
import ObjectStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct VFSClock: Sendable {
    /// Seconds on a monotonic clock.
    public var now: @Sendable () -> Double
    public init(now: @escaping @Sendable () -> Double) { self.now = now }
    public static let system = VFSClock {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

public final class VFS: Sendable {
    let client: ObjectClient
    let config: VFSConfig
    let clock: VFSClock
    public let logger: Logger
    /// Memory for prefetched chunks, shared by every open file.
    public let pool: BufferPool
    let prefetchBudget: PrefetchBudget
    /// Bytes in staging files, against `staging_max`.
    let stagingBudget: StagingBudget
    /// Every change of one key, one at a time, in order.
    let keyLocks = KeyLocks()
    /// Content-Type of new objects, from their names.
    let contentTypes: ContentTypes
    /// Most bytes of a streamed file kept locally for seek-backs (see VFSConfig.seekableMax).
    let seekableLimit: UInt64
    /// Directories this mount knows only as prefixes show this time (the mount's start).
    let mountTime: Timestamp
    let readMetrics: ReadMetrics

    struct State {
        var table: InodeTable
        /// Keys known not to exist, until the time given.
        var negative = KeyMap<Double>()
        var files: [UInt64: FileHandle] = [:]
        var writers: [UInt64: WriteHandle] = [:]
        var directories: [UInt64: DirectoryHandle] = [:]
        var nextHandle: UInt64 = 1
        var listAhead: ListAhead
        /// Objects removed here while open for reading, by key: deleted at the last
        /// reader's close (VFS+Hidden.swift).
        var hidden = KeyMap<ETag>()
        /// Entries being created in a directory (by its key) whose objects are not on OSS
        /// yet: rmdir counts them as children.
        var creating = KeyMap<Int>()
        /// SIGTERM arrived: no new writers (VFS+Shutdown.swift).
        var shuttingDown = false

        /// Whether a handle of this mount has `ino` open for writing.
        func writes(_ ino: InodeNumber) -> Bool { writers.values.contains { $0.ino == ino } }
    }
    let state: Mutex<State>

    public init(client: ObjectClient, config: VFSConfig, clock: VFSClock = .system,
                logger: Logger = Logger(label: "ossmount.vfs"),
                metrics: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.client = client
        readMetrics = ReadMetrics(factory: metrics)
        self.config = config
        self.clock = clock
        self.logger = logger
        pool = BufferPool(capacity: config.totalMemLimit)
        prefetchBudget = PrefetchBudget(limit: config.prefetchBudget)
        stagingBudget = StagingBudget(limit: config.stagingMax)
        contentTypes = ContentTypes(file: config.mimeTypesFile)
        seekableLimit = config.seekableMax ?? StagingFile.defaultSeekableLimit(directory: config.stagingDirectory)
        mountTime = VFS.wallTimestamp()
        let rootAttrs = FileAttributes(ino: InodeTable.rootIno, kind: .directory, size: 0,
                                       mode: config.dirMode & ~config.umask, uid: config.uid, gid: config.gid,
                                       mtime: mountTime)
        let root = Inode(ino: InodeTable.rootIno, key: config.prefix, kind: .directory, attributes: rootAttrs,
                         etag: nil, validatedAt: .infinity, lookups: 1)
        state = Mutex(State(table: InodeTable(root: root, forgottenCapacity: config.statCacheSize), listAhead: ListAhead(pageSize: config.listPageSize)))
    }

    /// Seconds the kernel may keep attributes.
    public var attributeTimeout: Double { config.attrTimeout }

    /// Inodes currently held (the root included): what a walk leaves behind.
    public var inodeCount: Int { state.withLock { $0.table.count } }

    func inode(_ ino: InodeNumber) throws(VFSError) -> Inode {
        guard let node = state.withLock({ $0.table[ino] }) else { throw .notFound }
        return node
    }

    /// Whether the inode still stands for its key (not unlinked, renamed over or removed).
    func isBound(_ node: Inode) -> Bool {
        node.ino == InodeTable.rootIno || state.withLock { $0.table.ino(forKey: node.key) } == node.ino
    }

    func entry(_ node: Inode) -> Entry {
        Entry(attributes: node.attributes, generation: 1, entryTimeout: config.entryTimeout,
              attributeTimeout: config.attrTimeout)
    }

    // MARK: attributes from object metadata

    /// Attributes of a file from its metadata, honouring the `x-oss-meta-*` names ossfs writes.
    func fileAttributes(_ ino: InodeNumber, size: UInt64, lastModified: Timestamp?, type: ObjectType,
                        metadata: [String: String]) -> FileAttributes {
        let kind: FileKind = type == .symlink ? .symlink : .file
        var mode = config.fileMode & ~config.umask
        if let m = metadata["mode"].flatMap({ UInt32($0) }) { mode = m & 0o7777 }
        if kind == .symlink { mode = 0o777 }
        let mtime = metadata["mtime"].flatMap(TimeMetadata.parse) ?? lastModified ?? mountTime
        return FileAttributes(ino: ino, kind: kind, size: size, mode: mode,
                              uid: metadata["uid"].flatMap { UInt32($0) } ?? config.uid,
                              gid: metadata["gid"].flatMap { UInt32($0) } ?? config.gid, mtime: mtime,
                              atime: metadata["atime"].flatMap(TimeMetadata.parse),
                              ctime: metadata["ctime"].flatMap(TimeMetadata.parse))
    }

    func directoryAttributes(_ ino: InodeNumber, mtime: Timestamp) -> FileAttributes {
        FileAttributes(ino: ino, kind: .directory, size: 0, mode: config.dirMode & ~config.umask, uid: config.uid,
                       gid: config.gid, mtime: mtime)
    }

    /// Records a file seen by HEAD or by a listing; returns the inode with `lookups` added.
    /// `listed`: `info` comes from a listing (no user metadata). It then keeps the
    /// metadata a HEAD gave for the same ETag.
    func remember(fileKey key: String, info: ObjectInfo, lookups: UInt64, listed: Bool = false) -> Inode {
        let now = clock.now()
        return state.withLock { s in
            s.negative[key] = nil
            return s.table.upsert(key: key, lookups: lookups) { ino in
                Inode(ino: ino, key: key, kind: info.type == .symlink ? .symlink : .file,
                      attributes: fileAttributes(ino, size: info.size, lastModified: info.lastModified, type: info.type,
                                                 metadata: info.userMetadata),
                      etag: info.etag, validatedAt: now, lookups: 0, fromListing: listed)
            } update: { node in
                if listed && !node.fromListing && node.etag == info.etag {
                    node.validatedAt = now
                    return
                }
                node.fromListing = listed
                node.attributes = fileAttributes(node.ino, size: info.size, lastModified: info.lastModified,
                                                 type: info.type, metadata: info.userMetadata)
                node.kind = node.attributes.kind
                node.etag = info.etag
                node.validatedAt = now
            }
        }
    }

    /// Records a directory; `mtime` from its marker when one was seen (else the mount's
    /// start for a new inode, and what it had for a known one).
    func remember(directoryKey key: String, lookups: UInt64, mtime: Timestamp? = nil) -> Inode {
        let now = clock.now()
        return state.withLock { s in
            s.negative[key] = nil
            return s.table.upsert(key: key, lookups: lookups) { ino in
                Inode(ino: ino, key: key, kind: .directory, attributes: directoryAttributes(ino, mtime: mtime ?? mountTime),
                      etag: nil, validatedAt: now, lookups: 0)
            } update: { node in
                node.validatedAt = now
                if let mtime, mtime > node.attributes.mtime { node.attributes.mtime = mtime }
            }
        }
    }

    // MARK: lookup

    /// The one name rule (lookup, create, listings): 1 to 255 bytes, no "/", not "." or
    /// "..". Bytes are scanned directly: listings run this for every entry.
    static func validName(_ name: String) throws(VFSError) {
        let bytes = name.utf8
        if bytes.count > 255 { throw .nameTooLong }
        if bytes.isEmpty || bytes.contains(UInt8(ascii: "/")) { throw .invalidArgument }
        if bytes.count <= 2 && bytes.allSatisfy({ $0 == UInt8(ascii: ".") }) { throw .invalidArgument }
    }

    /// OSS's longest object name (UTF-8 bytes, the mount's prefix included).
    static let maxKeyBytes = 1023

    /// The key rule: a key past 1023 bytes, or (a name at the top of an unprefixed mount)
    /// one starting with a backslash, cannot be in the bucket, so it is ENAMETOOLONG or
    /// EINVAL before any request (OSS would answer InvalidObjectName).
    static func validKey(_ key: String) throws(VFSError) {
        if key.utf8.count > maxKeyBytes { throw .nameTooLong }
        if key.utf8.first == UInt8(ascii: "\\") { throw .invalidArgument }
    }

    /// The answer to a lookup when it needs no request: a fresh inode, a fresh
    /// "no such file", or a name listed ahead (see ListAhead). Nil: ask OSS.
    public func cachedLookup(parent: InodeNumber, name: String) -> Result<Entry, VFSError>? {
        guard let dir = try? inode(parent), dir.kind == .directory, (try? Self.validName(name)) != nil else { return nil }
        let fileKey = dir.key + name
        guard (try? Self.validKey(fileKey)) != nil else { return nil }
        let dirKey = fileKey + "/"
        let now = clock.now()
        let (cached, listed, load, absent): (Inode?, ListAhead.Listed?, ListAhead.Load?, Bool) = state.withLock { s in
            for key in [fileKey, dirKey] {  // a file wins over a directory of the same name
                if let ino = s.table.ino(forKey: key), var node = s.table[ino], now - node.validatedAt < config.entryTimeout {
                    node.lookups += 1
                    s.table[ino] = node
                    return (node, nil, nil, false)
                }
                if key == fileKey, s.table.ino(forKey: key) == nil,
                   let node = s.table.revive(key, now: now, ttl: config.entryTimeout)
                {
                    return (node, nil, nil, false)
                }
            }
            var listed: ListAhead.Listed?, load: ListAhead.Load?
            if config.listAhead { (listed, load) = s.listAhead.take(dir.key, name, now: now, ttl: config.entryTimeout) }
            let absent = listed == nil && (s.negative[fileKey].map { $0 > now } ?? false)
            return (nil, listed, load, absent)
        }
        if let load { startListAhead(load) }
        if let cached { return .success(entry(cached)) }
        switch listed {
        case .object(let o)? where isHidden(o.key, etag: o.etag):
            return nil
        case .object(let o)?:
            return .success(entry(remember(fileKey: fileKey, info: ObjectInfo(listed: o), lookups: 1, listed: true)))
        case .directory?:
            return .success(entry(remember(directoryKey: dirKey, lookups: 1)))
        case nil:
            return absent ? .failure(.notFound) : nil
        }
    }

    public func lookup(parent: InodeNumber, name: String) async throws(VFSError) -> Entry {
        let dir = try inode(parent)
        guard dir.kind == .directory else { throw .notDirectory }
        try Self.validName(name)
        if let known = cachedLookup(parent: parent, name: name) { return try known.get() }
        let fileKey = dir.key + name
        try Self.validKey(fileKey)
        let dirKey = fileKey + "/"
        if config.listAhead, let load = state.withLock({ $0.listAhead.miss(dir.key, name, now: clock.now()) }) {
            startListAhead(load)
        }

        // The object first (files are most lookups: one request each), then anything
        // under name/ (a directory, or nothing).
        if let info = try await headIfExists(fileKey) { return entry(remember(fileKey: fileKey, info: info, lookups: 1)) }
        if let marker = try await directoryListing(dirKey) {
            return entry(remember(directoryKey: dirKey, lookups: 1, mtime: marker))
        }
        if config.negativeTimeout > 0 {
            let until = clock.now() + config.negativeTimeout
            state.withLock { $0.negative[fileKey] = until }
        }
        throw .notFound
    }

    /// The object at `key`, nil when there is none. HEAD follows symlinks: a link whose
    /// target is missing answers SymlinkTargetNotExist, and is then described by GetSymlink.
    func headIfExists(_ key: String) async throws(VFSError) -> ObjectInfo? {
        do {
            let info = try await client.headObject(key, ifMatch: nil)
            return isHidden(key, etag: info.etag) ? nil : info
        } catch let e as ObjectStoreError where e.kind == .symlinkTargetMissing {
            do {
                let link = try await client.getSymlink(key)
                return ObjectInfo(key: key, size: UInt64(link.target.utf8.count), etag: link.etag,
                                  lastModified: link.lastModified, type: .symlink, userMetadata: link.userMetadata)
            } catch {
                throw VFSError(error)
            }
        } catch {
            let e = VFSError(error)
            if e == .notFound { return nil }
            throw e
        }
    }

    /// A directory exists when some key starts with `prefix` (a `dir/` marker counts).
    func directoryExists(_ prefix: String) async throws(VFSError) -> Bool {
        try await directoryListing(prefix) != nil
    }

    /// Nil when nothing is under `prefix`; else the directory's mtime: its marker's
    /// (x-oss-meta-mtime is not in a listing: Last-Modified), or the mount's start.
    func directoryListing(_ prefix: String) async throws(VFSError) -> Timestamp? {
        do {
            let page = try await client.listObjects(ListRequest(prefix: prefix, delimiter: "/", maxKeys: 1))
            if page.objects.isEmpty && page.commonPrefixes.isEmpty { return nil }
            if let marker = page.objects.first, marker.key.bytesEqual(prefix), let t = marker.lastModified { return t }
            return mountTime
        } catch {
            throw VFSError(error)
        }
    }

    /// The kernel dropped `count` references. A file whose inode goes keeps its
    /// attributes for a later lookup (ForgottenFiles) unless a writer of this mount
    /// still has it, or it is an object removed here and kept for its readers.
    public func forget(_ ino: InodeNumber, count: UInt64) {
        state.withLock { s in
            guard let node = s.table.forget(ino, count: count), node.kind != .directory, let etag = node.etag,
                  s.hidden[node.key] != etag, !s.writes(ino)
            else { return }
            s.table.keepForgotten(node)
        }
    }

    // MARK: getattr

    /// The attributes when still fresh (no I/O needed), else nil.
    /// A file open for writing here is answered from memory whatever `attr_timeout` says:
    /// this mount has it as it is (its size may not be on OSS yet).
    /// Attributes from a listing (default mode and owner) are fresh enough while the file
    /// is open here: the GETATTR that follows a read (the kernel marks atime stale) then
    /// costs nothing, as an epoch over a dataset wants. Otherwise they send a HEAD, so an
    /// exec's permission check sees the stored mode.
    public func cachedAttributes(_ ino: InodeNumber) -> (FileAttributes, timeout: Double)? {
        let (node, writing, open): (Inode?, Bool, Bool) = state.withLock { s in
            let node = s.table[ino]
            // Open handles are looked at only for listed files, the one case they decide.
            return (node, s.writes(ino),
                    node?.fromListing == true && s.files.values.contains { $0.ino == ino })
        }
        guard let node,
            writing || node.kind == .directory
                || ((!node.fromListing || open) && clock.now() - node.validatedAt < config.attrTimeout)
        else { return nil }
        return (node.attributes, config.attrTimeout)
    }

    public func getattr(_ ino: InodeNumber) async throws(VFSError) -> (FileAttributes, timeout: Double) {
        if let cached = cachedAttributes(ino) { return cached }
        let node = try inode(ino)
        // Stale: ask OSS again (the object may have changed or gone).
        guard let info = try await headIfExists(node.key) else { throw .notFound }
        let fresh = remember(fileKey: node.key, info: info, lookups: 0)
        return (fresh.attributes, config.attrTimeout)
    }

    public func readlink(_ ino: InodeNumber) async throws(VFSError) -> String {
        let node = try inode(ino)
        guard node.kind == .symlink else { throw .invalidArgument }
        do {
            let target = try await client.getSymlink(node.key).target
            // Targets are keys; shown relative to the link's directory.
            return Self.relativeTarget(target, linkKey: node.key)
        } catch {
            throw VFSError(error)
        }
    }

    /// OSS symlink targets are full keys; a path relative to the link reads the same in the
    /// mount. A key outside a prefix mount climbs out of it ("../other/z" from "data/link"),
    /// as the `ln -s ../other/z` that made it wrote it. `prefix` is not needed for that: the
    /// path between two keys is the same with or without the parts they share.
    static func relativeTarget(_ target: String, linkKey: String) -> String {
        // An absolute path (no key starts with "/") is the link's own text, kept as it was.
        guard !target.hasPrefix("/") else { return target }
        let targetParts = target.split(separator: "/", omittingEmptySubsequences: false)
        let linkDir = linkKey.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        var common = 0
        while common < linkDir.count && common < targetParts.count - 1 && linkDir[common] == targetParts[common] {
            common += 1
        }
        let ups = Array(repeating: "..", count: linkDir.count - common)
        return (ups + targetParts[common...].map(String.init)).joined(separator: "/")
    }

    /// Now, on the wall clock, for the times of files changed here.
    static func wallTimestamp() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(seconds: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec))
    }

    func wallTimestamp() -> Timestamp { Self.wallTimestamp() }
}
