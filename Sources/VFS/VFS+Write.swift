// Writing: new files and whole-file rewrites streamed front to back (a
// multipart upload from the first full part; a PutObject when small); a write at
// the end of an existing object continues it (VFS+Edit.swift); other edits and
// writes that seek back go through a staging file. Each handle is one
// WriteHandle state machine (WriteHandle.swift). The object is stored at close
// (flush), under the key's lock: close's error is the upload's, a failed upload
// leaves no object behind, and a close that returned has stored everything.
// mkdir, unlink, rmdir are here too; setattr is in VFS+Setattr.swift.
import ObjectStore
import Synchronization

extension WriteOptions {
    /// These options over an existing object's own: its other `x-oss-meta-*` stay unless
    /// these set them, and so does its content type.
    func keeping(_ base: WriteOptions?) -> WriteOptions {
        guard let base else { return self }
        var o = self
        o.userMetadata = base.userMetadata.merging(userMetadata) { _, new in new }
        o.contentType = base.contentType ?? contentType
        return o
    }
}

/// Who a request comes from.
public struct Owner: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}

extension VFS {
    /// The process the request being served comes from (the FUSE adapter sets it per
    /// request); nil outside a request.
    @TaskLocal public static var caller: Owner?

    /// The owner of a file created now: its creator, unless `uid`/`gid` fixed it.
    var newOwner: Owner {
        let c = VFS.caller
        return Owner(uid: config.uidFromCaller ? c?.uid ?? config.uid : config.uid,
                     gid: config.gidFromCaller ? c?.gid ?? config.gid : config.gid)
    }

    /// Metadata of a new object: mode and owner as ossfs names them, the content type
    /// from the name.
    func writeOptions(key: String, mode: UInt32) -> WriteOptions {
        let owner = newOwner
        return WriteOptions(contentType: contentTypes.type(forKey: key),
                            userMetadata: ["mode": String(mode & 0o7777), "uid": String(owner.uid), "gid": String(owner.gid)])
    }

    /// Metadata for an inode's current attributes (stored with the object at close).
    func writeOptions(_ a: FileAttributes, key: String) -> WriteOptions {
        WriteOptions(contentType: contentTypes.type(forKey: key),
                     userMetadata: ["mode": String(a.mode & 0o7777), "uid": String(a.uid), "gid": String(a.gid),
                                    "mtime": TimeMetadata.format(a.mtime), "atime": TimeMetadata.format(a.atime),
                                    "ctime": TimeMetadata.format(a.ctime)])
    }

    /// Options for the object of inode `ino` as it is now (`fallback` once it is gone).
    func currentOptions(_ ino: InodeNumber, key: String, fallback: WriteOptions) -> @Sendable () -> WriteOptions {
        { [weak self] in
            guard let self, let node = try? self.inode(ino) else { return fallback }
            return self.writeOptions(node.attributes, key: key)
        }
    }

    func newUpload(key: String, mode: UInt32, ino: InodeNumber) -> SequentialUpload {
        let (directory, budget) = (config.stagingDirectory, stagingBudget)
        let makeSpill: @Sendable () throws(VFSError) -> StagingFile = { () throws(VFSError) -> StagingFile in
            try StagingFile(directory: directory, budget: budget)
        }
        return SequentialUpload(client: client, key: key,
                                options: currentOptions(ino, key: key, fallback: writeOptions(key: key, mode: mode)),
                                partSize: config.uploadBufferSize, concurrency: config.uploadConcurrency, pool: pool,
                                makeSpill: config.seekableWrites ? makeSpill : nil, spillLimit: seekableLimit)
    }

    /// An appender for `key`: continuing the Appendable object `existing`, or a new one.
    func newAppend(key: String, existing: ObjectInfo?, mode: UInt32, ino: InodeNumber) -> AppendUpload {
        let a = AppendUpload(client: client, key: key, existing: existing,
                             options: currentOptions(ino, key: key, fallback: writeOptions(key: key, mode: mode)),
                             threshold: config.uploadBufferSize, logger: logger)
        if config.appendFlushInterval > 0 { a.flushPeriodically(every: .seconds(config.appendFlushInterval)) }
        return a
    }

    /// A handle writing `ino`: an edit of the existing object `existing` (decided at its
    /// first change), else the whole file from scratch, streamed or appended.
    func addWriteHandle(_ ino: InodeNumber, key: String, mode: UInt32, existing: (etag: ETag?, size: UInt64)? = nil)
        -> UInt64
    {
        let phase: WriteHandle.Phase =
            if let existing { .undecided(etag: existing.etag, size: existing.size) }
            else if config.appendMode { .appending(newAppend(key: key, existing: nil, mode: mode, ino: ino)) }
            else { .streaming(newUpload(key: key, mode: mode, ino: ino)) }
        return insert(WriteHandle(ino: ino, key: key, phase: phase))
    }

    /// A handle writing a file that has no name any more: writes are taken and dropped.
    private func addOrphanWriter(_ node: Inode) -> UInt64 {
        let w = WriteHandle(ino: node.ino, key: node.key, phase: .discarded(size: 0))
        w.state.withLock { $0.unlinked = true }
        return insert(w)
    }

    private func insert(_ w: WriteHandle) -> UInt64 {
        state.withLock { s in
            let h = s.nextHandle
            s.nextHandle += 1
            s.writers[h] = w
            return h
        }
    }

    /// Open write handles of `key` (a handle whose name was unlinked has no key any more).
    func writers(of key: String) -> [WriteHandle] {
        state.withLock { s in s.writers.values.filter { $0.key.bytesEqual(key) && !$0.state.withLock { $0.unlinked } } }
    }

    /// Open write handles of `ino`.
    func writers(of ino: InodeNumber) -> [WriteHandle] {
        state.withLock { s in s.writers.values.filter { $0.ino == ino } }
    }

    /// The directory `parent` and the key `name` would have in it, for an operation that
    /// changes the bucket.
    func target(_ parent: InodeNumber, _ name: String) throws(VFSError) -> (dir: Inode, key: String) {
        if config.readOnly { throw .readOnly }
        let dir = try inode(parent)
        guard dir.kind == .directory else { throw .notDirectory }
        try Self.validName(name)
        let key = dir.key + name
        try Self.validKey(key)
        return (dir, key)
    }

    /// Runs `body`, which creates an entry in `dir`, with the entry counted as a child of
    /// `dir` from before it starts (so a concurrent rmdir sees it) until it ends, holding
    /// the locks of `keys`. A directory removed meanwhile gives ENOENT, as on a local disk.
    func creatingEntry<T: Sendable>(in dir: Inode, locking keys: [String] = [],
                                    _ body: () async throws(VFSError) -> T) async throws(VFSError) -> T {
        try await keyLocks.with(dir.key) { () async throws(VFSError) in
            try state.withLock { s throws(VFSError) in
                if dir.ino != InodeTable.rootIno && s.table.ino(forKey: dir.key) != dir.ino { throw .notFound }
                s.creating[dir.key, default: 0] += 1
            }
        }
        defer {
            state.withLock { s in
                s.creating[dir.key]! -= 1
                if s.creating[dir.key] == 0 { s.creating[dir.key] = nil }
            }
        }
        return try await keyLocks.with(keys, body)
    }

    /// Whether entries of the directory `prefix` exist here and not yet on OSS.
    func hasPendingEntries(_ prefix: String) -> Bool {
        state.withLock { s in
            s.creating[prefix] != nil
                || s.writers.values.contains { $0.key.hasBytePrefix(prefix) && !$0.state.withLock { $0.unlinked } }
        }
    }

    /// The inode of a file this mount is creating at `key` (size 0, `perms`, times `mtime`
    /// or now).
    func newFileInode(key: String, perms: UInt32, lookups: UInt64, mtime: Timestamp? = nil) -> Inode {
        let now = clock.now()
        let mtime = mtime ?? wallTimestamp()
        let owner = newOwner
        return state.withLock { s in
            s.negative[key] = nil
            s.listAhead.forgetAll()
            return s.table.upsert(key: key, lookups: lookups) { ino in
                Inode(ino: ino, key: key, kind: .file,
                      attributes: FileAttributes(ino: ino, kind: .file, size: 0, mode: perms, uid: owner.uid,
                                                 gid: owner.gid, mtime: mtime),
                      etag: nil, validatedAt: now, lookups: 0)
            } update: { n in
                n.attributes.size = 0
                n.attributes.mtime = mtime
                n.attributes.ctime = mtime
                n.validatedAt = now
            }
        }
    }

    public func create(parent: InodeNumber, name: String, mode: UInt32) async throws(VFSError) -> (Entry, UInt64) {
        try refuseNewWritersWhenShuttingDown()
        let (dir, key) = try target(parent, name)
        let perms = mode & 0o7777 & ~config.umask
        let (node, handle) = try await creatingEntry(in: dir) { () async throws(VFSError) in
            let node = newFileInode(key: key, perms: perms, lookups: 1)
            return (node, addWriteHandle(node.ino, key: key, mode: perms))
        }
        touchDirectory(dir.ino)
        return (entry(node), handle)
    }

    /// mknod of a regular file: an empty object, stored at once.
    public func mknod(parent: InodeNumber, name: String, mode: UInt32) async throws(VFSError) -> Entry {
        let (dir, key) = try target(parent, name)
        let perms = mode & 0o7777 & ~config.umask
        let now = wallTimestamp()
        let owner = newOwner
        let attributes = FileAttributes(ino: 0, kind: .file, size: 0, mode: perms, uid: owner.uid, gid: owner.gid, mtime: now)
        let result = try await creatingEntry(in: dir, locking: [key]) { () async throws(VFSError) -> WriteResult in
            do { return try await client.putObject(key, bytes: [], options: writeOptions(attributes, key: key)) } catch {
                throw VFSError(error)
            }
        }
        // The inode only once the object exists: a failed mknod leaves nothing behind.
        let node = newFileInode(key: key, perms: perms, lookups: 1, mtime: now)
        unhide(key)
        recordStored(node.ino, etag: result.etag, size: 0)
        touchDirectory(dir.ino)
        return entry(try inode(node.ino))
    }

    /// Opens an existing file for writing: a whole rewrite streams (O_TRUNC: the size is 0
    /// at once); an edit is decided at its first change (VFS.beginEdit).
    ///
    /// The handle registers under the key's lock (a rename or unlink in progress is waited
    /// for; it moves or orphans the writers it sees), and takes the key the inode has then.
    func openForWrite(_ node: Inode, truncate: Bool) async throws(VFSError) -> UInt64 {
        if config.readOnly { throw .readOnly }
        try refuseNewWritersWhenShuttingDown()
        var key = node.key
        while true {
            let opened = try await keyLocks.with(key) { () async throws(VFSError) -> UInt64? in
                let current = try inode(node.ino)
                guard current.key.bytesEqual(key) else { return nil }  // renamed meanwhile: lock its new key
                guard isBound(current) else {
                    // Unlinked or replaced after the kernel looked its name up. As on a local
                    // disk, a truncating open still opens that (now nameless) file, whose
                    // writes go nowhere; an edit would need bytes that are gone: ESTALE, and
                    // the kernel looks the name up once more.
                    guard truncate else { throw .stale }
                    return addOrphanWriter(current)
                }
                return registerWriter(current, truncate: truncate)
            }
            if let opened { return opened }
            key = try inode(node.ino).key
        }
    }

    private func registerWriter(_ node: Inode, truncate: Bool) -> UInt64 {
        if truncate {
            state.withLock { s in
                if var n = s.table[node.ino] {
                    n.attributes.size = 0
                    n.attributes.mtime = wallTimestamp()
                    n.attributes.ctime = n.attributes.mtime
                    s.table[node.ino] = n
                }
            }
            return addWriteHandle(node.ino, key: node.key, mode: node.attributes.mode)
        }
        return addWriteHandle(node.ino, key: node.key, mode: node.attributes.mode,
                              existing: (node.etag, node.attributes.size))
    }

    func writer(_ handle: UInt64) throws(VFSError) -> WriteHandle {
        guard let w = state.withLock({ $0.writers[handle] }) else { throw .badHandle }
        return w
    }

    /// Runs `body` under the handle's gate with typed errors.
    func serialized<T: Sendable>(_ w: WriteHandle, _ body: @Sendable () async throws(VFSError) -> T) async throws(VFSError) -> T {
        do {
            return try await w.gate.run { () async throws -> T in try await body() }
        } catch {
            throw VFSError(error)
        }
    }

    public func write(_ handle: UInt64, offset: Int64, bytes: [UInt8]) async throws(VFSError) -> Int {
        let w = try writer(handle)
        let at = UInt64(offset)
        try await serialized(w) { () async throws(VFSError) in
            if case .undecided = w.phase { try await beginEdit(w, at: at) }
            w.state.withLock { $0.writtenSinceClose = true }
            touchFile(w.ino)
            let done: Bool
            do {
                switch w.phase {
                case .staged(let file):
                    try await file.write(offset: at, bytes: bytes)
                    return
                case .discarded(let size):
                    w.set(.discarded(size: max(size, at + UInt64(bytes.count))))
                    return
                case .failed(let e): throw e
                case .appending(let a): done = try await a.write(offset: at, bytes: bytes)
                case .streaming(let u): done = try await u.write(offset: at, bytes: bytes)
                case .undecided: throw VFSError.io("write before the edit was decided")
                }
            } catch {
                throw VFSError(error)
            }
            if !done { try await staged(w).write(offset: at, bytes: bytes) }
        }
        grow(w)
        return bytes.count
    }

    /// A write served in the caller's thread when it needs no I/O and no waiting: a
    /// streamed file's bytes that fit in its part buffer (most writes of a large file).
    /// nil: use `write`.
    public func writeWithoutIO(_ handle: UInt64, offset: Int64, bytes: UnsafeRawBufferPointer) -> Int? {
        guard let w = state.withLock({ $0.writers[handle] }), w.gate.tryEnter() else { return nil }
        defer { w.gate.leave() }
        guard case .streaming(let u) = w.phase, u.writeNow(offset: UInt64(offset), bytes: bytes) else { return nil }
        w.state.withLock { $0.writtenSinceClose = true }
        touchFile(w.ino)
        grow(w)
        return bytes.count
    }

    /// The inode's size grows to what the handle has written.
    private func grow(_ w: WriteHandle) {
        let size = w.size
        state.withLock { s in
            if var n = s.table[w.ino], n.attributes.size < size {
                n.attributes.size = size
                s.table[w.ino] = n
            }
        }
    }

    /// Close: the object becomes whole on OSS, or the error is returned.
    public func flush(_ handle: UInt64) async throws(VFSError) {
        guard let w = state.withLock({ $0.writers[handle] }) else { return }
        // A failure is logged once by whoever asked (the FUSE adapter, release, shutdown).
        try await serialized(w) { () async throws(VFSError) in
            try await keyLocks.with(w.key) { () async throws(VFSError) in try await store(w) }
        }
    }

    /// fsync: like close, unless `ignore_fsync`.
    public func fsync(_ handle: UInt64) async throws(VFSError) {
        if config.ignoreFsync { return }
        try await flush(handle)
    }

    /// Stores what the handle holds that OSS does not have yet. The caller holds the
    /// handle's gate and the key's lock.
    func store(_ w: WriteHandle) async throws(VFSError) {
        let key = w.key
        w.state.withLock { $0.writtenSinceClose = false }
        if w.state.withLock({ $0.unlinked }) {
            await discard(w)
            return
        }
        let options = (try? inode(w.ino)).map { writeOptions($0.attributes, key: key) } ?? writeOptions(key: key, mode: config.fileMode)
        let opts = options.keeping(w.state.withLock { $0.preserved })
        let (partSize, pool, client) = (config.uploadBufferSize, self.pool, self.client)
        let metadataPending = w.state.withLock { s in
            defer { s.metadataPending = false }
            return s.metadataPending
        }
        let result: WriteResult?
        var carriedMetadata = true
        do {
            switch w.phase {
            case .undecided, .discarded: result = nil  // an edit that changed no byte: the object stays
            case .failed(let e): throw e
            case .staged(let file):
                result = try await file.upload(client: client, key: key, options: opts, partSize: partSize, pool: pool)
            case .appending(let a):
                result = try await a.flush(final: true)
                carriedMetadata = false
            case .streaming(let u):
                // A multipart upload took its metadata when it began.
                carriedMetadata = !u.isMultipart
                result = try await u.finish()
            }
        } catch {
            throw VFSError(error)
        }
        if let result {
            unhide(key)
            w.state.withLock { $0.stored = true }
            recordStored(w.ino, etag: result.etag, size: w.size)
        }
        // Mode, owner or mtime changed after a multipart upload began: store them now.
        if metadataPending && !(result != nil && carriedMetadata) && w.state.withLock({ $0.stored }) {
            do {
                try await persistMetadataLocked(w.ino, key: key)
            } catch .notSupported {
                logger.notice("mode/owner/mtime of an Appendable object stay in memory", metadata: ["key": "\(key)"])
            }
        }
    }

    /// The handle's name was unlinked: nothing it holds is stored; a multipart upload
    /// begun is aborted.
    func discard(_ w: WriteHandle) async {
        let size = w.size
        switch w.phase {
        case .streaming(let u): await u.abort()
        case .appending(let a): a.stop()
        default: break
        }
        if case .staged = w.phase { return }  // keeps its local copy for reads
        w.set(.discarded(size: size))
    }

    /// The object of `ino` as stored now: its ETag, and its size when the bytes changed
    /// (nil for a metadata copy: a writer's pending size must stay what the mount shows).
    /// The kernel's cached pages of it are not trusted at the next open.
    func recordStored(_ ino: InodeNumber, etag: ETag, size: UInt64?) {
        let now = clock.now()
        state.withLock { s in
            if var n = s.table[ino] {
                n.etag = etag
                n.kernelPages = .unknown
                if let size { n.attributes.size = size }
                n.validatedAt = now
                s.table[ino] = n
            }
        }
    }

    public func releaseWriter(_ handle: UInt64) async {
        // Close stored everything already (or failed, and that is final: storing it now
        // could land after a later syscall); only bytes written since (mmap) still go.
        if let w = state.withLock({ $0.writers[handle] }), w.state.withLock({ $0.writtenSinceClose }) {
            do { try await flush(handle) } catch {
                logger.error("upload at release failed", metadata: ["key": "\(w.key)", "error": "\(error)"])
            }
        }
        guard let w = state.withLock({ $0.writers.removeValue(forKey: handle) }) else { return }
        switch w.phase {
        case .streaming(let u): u.close()
        case .appending(let a): a.stop()
        default: break
        }
    }

    /// The file's mtime and ctime are now: it was written.
    func touchFile(_ ino: InodeNumber) {
        let now = wallTimestamp()
        state.withLock { s in
            if var n = s.table[ino] {
                n.attributes.mtime = now
                n.attributes.ctime = now
                s.table[ino] = n
            }
        }
    }

    /// A directory's mtime is now: an entry was added or removed through this mount.
    func touchDirectory(_ ino: InodeNumber) { touchFile(ino) }

    public func mkdir(parent: InodeNumber, name: String, mode: UInt32) async throws(VFSError) -> Entry {
        let (dir, key) = try target(parent, name)
        try Self.validKey(key + "/")  // the directory's marker object
        try await creatingEntry(in: dir, locking: [key, key + "/"]) { () async throws(VFSError) in
            if !writers(of: key).isEmpty { throw .exists }
            let existing = try await headIfExists(key)
            let isDirectory = try await directoryExists(key + "/")
            if existing != nil || isDirectory { throw .exists }
            do {
                _ = try await client.putObject(key + "/", bytes: [],
                                               options: writeOptions(key: key + "/", mode: (mode & 0o7777) & ~config.umask))
            } catch {
                throw VFSError(error)
            }
        }
        touchDirectory(dir.ino)
        return entry(remember(directoryKey: key + "/", lookups: 1, mtime: wallTimestamp()))
    }

    /// Looks `name` up afresh in `parent` (for removals, which must not act on stale
    /// cache). A file wins over a directory of the same name, as in lookup; a file open
    /// for writing here and not stored yet counts as existing.
    func child(_ parent: InodeNumber, _ name: String) async throws(VFSError) -> (dir: Inode, key: String, isDirectory: Bool) {
        let (dir, key) = try target(parent, name)
        if !writers(of: key).isEmpty { return (dir, key, false) }
        async let head = headIfExists(key)
        async let children = directoryExists(key + "/")
        do {
            let (info, isDir) = try await (head, children)
            if info != nil { return (dir, key, false) }
            if isDir { return (dir, key, true) }
        } catch let e as VFSError {
            throw e
        } catch {
            throw .io("\(error)")
        }
        throw .notFound
    }

    func dropKey(_ key: String) {
        state.withLock { s in
            if let ino = s.table.ino(forKey: key) { s.table.detach(ino) }
            s.table.dropForgotten(key, prefix: false)
            s.listAhead.forgetAll()
        }
    }

    /// Open write handles of `key` will never store: its name is gone.
    func unlinkWriters(of key: String) {
        for w in writers(of: key) { w.state.withLock { $0.unlinked = true } }
    }

    public func unlink(parent: InodeNumber, name: String) async throws(VFSError) {
        let (dir, key) = try target(parent, name)
        try await keyLocks.with(key) { () async throws(VFSError) in
            let pending = !writers(of: key).isEmpty
            let (_, _, isDirectory) = try await child(parent, name)
            if isDirectory { throw .isDirectory }
            unlinkWriters(of: key)
            do throws(VFSError) {
                try await removeObjectLocked(key)
            } catch {
                // A file open for writing and never stored has no object yet.
                if !(pending && error == .notFound) { throw error }
            }
            dropKey(key)
        }
        touchDirectory(dir.ino)
    }

    public func rmdir(parent: InodeNumber, name: String) async throws(VFSError) {
        let (dir, key) = try target(parent, name)
        let prefix = key + "/"
        try await keyLocks.with(prefix) { () async throws(VFSError) in
            let (_, _, isDirectory) = try await child(parent, name)
            guard isDirectory else { throw .notDirectory }
            // Files created in it and not stored yet are children too.
            if hasPendingEntries(prefix) { throw .notEmpty }
            do {
                let page = try await client.listObjects(ListRequest(prefix: prefix, delimiter: "/", maxKeys: 2))
                // Anything but the directory's own marker means it has children.
                if !page.commonPrefixes.isEmpty || page.objects.contains(where: { !$0.key.bytesEqual(prefix) }) { throw VFSError.notEmpty }
                try await client.deleteObject(prefix)
            } catch {
                throw VFSError(error)
            }
            dropKey(prefix)
        }
        touchDirectory(dir.ino)
    }
}
