// Writing: new files and whole-file rewrites streamed front to back (a
// multipart upload from the first full part; a PutObject when small); a write at
// the end of an existing object continues it (VFS+Edit.swift); other edits and
// writes that seek back go through a staging file. The namespace operations
// mkdir, unlink, rmdir are here too. The object appears at close (flush): its
// error is close()'s error, and a failed upload leaves no object behind.
import ObjectStore
import Synchronization

/// Where a handle's bytes go.
enum WriteTarget: Sendable {
    /// Front to back into the handle's SequentialUpload (a new file, a rewrite, or a
    /// continued Normal/Multipart object).
    case stream
    /// AppendObject to an Appendable object.
    case append(AppendUpload)
    /// A local copy, uploaded whole at close.
    case staging(StagingFile)
    /// A switch to a staging file failed after bytes had left the upload: the handle
    /// can only report this.
    case failed(VFSError)
}

final class WriteHandle: Sendable {
    let ino: InodeNumber
    let key: String
    let upload: SequentialUpload
    /// Nil for an existing object until its first change decides (VFS.beginEdit).
    let target: Mutex<WriteTarget?>
    /// One write, read, flush or truncate of this handle at a time.
    let gate = AsyncGate()
    /// The object this handle edits (opened without O_TRUNC), as seen at open.
    let existing: (etag: ETag?, size: UInt64)?
    /// Content type and user metadata of the edited object, kept when it is rewritten.
    let preserved = Mutex<WriteOptions?>(nil)
    /// Mode, owner or mtime changed while open: stored at close even if no byte changed.
    let metadataDirty = Mutex(false)
    /// Whether the object exists on OSS (edited, or uploaded by an earlier close).
    let objectExists: Mutex<Bool>

    init(ino: InodeNumber, key: String, upload: SequentialUpload, existing: (etag: ETag?, size: UInt64)?,
         target: WriteTarget?) {
        self.ino = ino
        self.key = key
        self.upload = upload
        self.existing = existing
        self.target = Mutex(target)
        objectExists = Mutex(existing != nil)
    }

    var current: WriteTarget? { target.withLock { $0 } }

    var size: UInt64 {
        switch current {
        case nil, .failed: existing?.size ?? 0
        case .stream: upload.size
        case .append(let a): a.size
        case .staging(let f): f.size
        }
    }
}

extension WriteOptions {
    /// These options over an existing object's own: its other `x-oss-meta-*` and its
    /// content type stay unless these set them.
    func keeping(_ base: WriteOptions?) -> WriteOptions {
        guard let base else { return self }
        var o = self
        o.userMetadata = base.userMetadata.merging(userMetadata) { _, new in new }
        o.contentType = contentType ?? base.contentType
        return o
    }
}

/// What a setattr changes (nil: unchanged).
public struct AttributeChange: Sendable {
    public var size: UInt64?
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    /// Seconds since the epoch.
    public var mtime: Double?
    public init(size: UInt64? = nil, mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, mtime: Double? = nil) {
        self.size = size
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
    }
    var touchesMetadata: Bool { mode != nil || uid != nil || gid != nil || mtime != nil }
}

extension VFS {
    func writeOptions(mode: UInt32) -> WriteOptions {
        // The names ossfs uses, so buckets written by either read the same.
        WriteOptions(userMetadata: ["mode": String(mode & 0o7777), "uid": String(config.uid), "gid": String(config.gid)])
    }

    /// Metadata for an inode's current attributes (written with the object at close).
    func writeOptions(_ a: FileAttributes) -> WriteOptions {
        WriteOptions(userMetadata: ["mode": String(a.mode & 0o7777), "uid": String(a.uid), "gid": String(a.gid),
                                    "mtime": String(a.mtime.seconds)])
    }

    /// Options for the object of inode `ino` as it is now (`fallback` once it is gone).
    func currentOptions(_ ino: InodeNumber?, fallback: WriteOptions) -> @Sendable () -> WriteOptions {
        { [weak self] in
            guard let self, let ino, let node = try? self.inode(ino) else { return fallback }
            return self.writeOptions(node.attributes)
        }
    }

    func newUpload(key: String, mode: UInt32, ino: InodeNumber? = nil) -> SequentialUpload {
        let (directory, budget) = (config.stagingDirectory, stagingBudget)
        let makeSpill: @Sendable () throws(VFSError) -> StagingFile = { () throws(VFSError) -> StagingFile in
            try StagingFile(directory: directory, budget: budget)
        }
        return SequentialUpload(client: client, key: key, options: currentOptions(ino, fallback: writeOptions(mode: mode)),
                                partSize: config.uploadBufferSize, concurrency: config.uploadConcurrency, pool: pool,
                                makeSpill: config.seekableWrites ? makeSpill : nil)
    }

    /// An appender for `key`: continuing the Appendable object `existing`, or a new one.
    func newAppend(key: String, existing: ObjectInfo?, mode: UInt32, ino: InodeNumber) -> AppendUpload {
        let a = AppendUpload(client: client, key: key, existing: existing,
                             options: currentOptions(ino, fallback: writeOptions(mode: mode)),
                             threshold: config.uploadBufferSize, logger: logger)
        if config.appendFlushInterval > 0 { a.flushPeriodically(every: .seconds(config.appendFlushInterval)) }
        return a
    }

    /// A handle writing `ino` from scratch: streamed, or appended under `append_mode`.
    func addWriteHandle(_ ino: InodeNumber, key: String, mode: UInt32, existing: (etag: ETag?, size: UInt64)? = nil)
        -> UInt64
    {
        let upload = newUpload(key: key, mode: mode, ino: ino)
        let target: WriteTarget? =
            existing != nil ? nil : config.appendMode ? .append(newAppend(key: key, existing: nil, mode: mode, ino: ino)) : .stream
        return state.withLock { s in
            let h = s.nextHandle
            s.nextHandle += 1
            s.writers[h] = WriteHandle(ino: ino, key: key, upload: upload, existing: existing, target: target)
            return h
        }
    }

    /// The directory `parent` and the key `name` would have in it, for an operation that
    /// changes the bucket.
    func target(_ parent: InodeNumber, _ name: String) throws(VFSError) -> (dir: Inode, key: String) {
        if config.readOnly { throw .readOnly }
        let dir = try inode(parent)
        guard dir.kind == .directory else { throw .notDirectory }
        try Self.validName(name)
        return (dir, dir.key + name)
    }

    public func create(parent: InodeNumber, name: String, mode: UInt32) async throws(VFSError) -> (Entry, UInt64) {
        let (_, key) = try target(parent, name)
        let perms = mode & 0o7777 & ~config.umask
        let now = clock.now()
        let node = state.withLock { s in
            s.negative[key] = nil
            return s.table.upsert(key: key, lookups: 1) { ino in
                Inode(ino: ino, key: key, kind: .file,
                      attributes: FileAttributes(ino: ino, kind: .file, size: 0, mode: perms, uid: config.uid, gid: config.gid,
                                                 mtime: Timestamp(seconds: Int64(wallClock()))),
                      etag: nil, validatedAt: now, lookups: 0)
            } update: { n in
                n.attributes.size = 0
                n.validatedAt = now
            }
        }
        return (entry(node), addWriteHandle(node.ino, key: key, mode: perms))
    }

    /// Opens an existing file for writing: a whole rewrite streams (O_TRUNC, or an empty
    /// file); an edit is decided at its first change (VFS.beginEdit).
    func openForWrite(_ node: Inode, truncate: Bool) async throws(VFSError) -> UInt64 {
        if config.readOnly { throw .readOnly }
        let editing = !truncate && node.attributes.size > 0
        return addWriteHandle(node.ino, key: node.key, mode: node.attributes.mode,
                              existing: editing ? (node.etag, node.attributes.size) : nil)
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
            if w.current == nil { try await beginEdit(w, at: at) }
            let done: Bool
            do {
                switch w.current {
                case .staging(let file):
                    try file.write(offset: at, bytes: bytes)
                    return
                case .failed(let e): throw e
                case .append(let a): done = try await a.write(offset: at, bytes: bytes)
                case .stream, nil: done = try await w.upload.write(offset: at, bytes: bytes)
                }
            } catch {
                throw VFSError(error)
            }
            if !done { try await staged(w).write(offset: at, bytes: bytes) }
        }
        let size = w.size
        state.withLock { s in
            if var n = s.table[w.ino], n.attributes.size < size {
                n.attributes.size = size
                s.table[w.ino] = n
            }
        }
        return bytes.count
    }

    /// Close: the object becomes whole on OSS, or the error is returned.
    public func flush(_ handle: UInt64) async throws(VFSError) { try await flush(handle, final: false) }

    /// fsync: like close, unless `ignore_fsync`.
    public func fsync(_ handle: UInt64) async throws(VFSError) {
        if config.ignoreFsync { return }
        try await flush(handle, final: false)
    }

    func flush(_ handle: UInt64, final: Bool) async throws(VFSError) {
        guard let w = state.withLock({ $0.writers[handle] }) else { return }
        let options = ((try? inode(w.ino)).map { writeOptions($0.attributes) } ?? writeOptions(mode: config.fileMode))
            .keeping(w.preserved.withLock { $0 })
        let (partSize, pool, client, opts) = (config.uploadBufferSize, self.pool, self.client, options)
        let result: WriteResult?
        do {
            result = try await serialized(w) { () async throws(VFSError) -> WriteResult? in
                do {
                    switch w.current {
                    case nil: return nil  // an edit that changed no byte: the object stays as it is
                    case .failed(let e): throw e
                    case .staging(let file):
                        return try await file.upload(client: client, key: w.key, options: opts, partSize: partSize, pool: pool)
                    case .append(let a): return try await a.flush(final: final)
                    case .stream: return try await w.upload.finish(final: final)
                    }
                } catch {
                    throw VFSError(error)
                }
            }
        } catch {
            logger.error("upload failed", metadata: ["key": "\(w.key)", "error": "\(error)"])
            throw error
        }
        // Metadata changed while open may predate the upload's start (a multipart upload
        // takes its metadata when it begins): store it now.
        if result != nil { w.objectExists.withLock { $0 = true } }
        // (A new file not uploaded yet takes its metadata with its first upload.)
        if w.metadataDirty.withLock({ $0 }) && w.objectExists.withLock({ $0 }) {
            if result != nil { updateAfterUpload(w, result!) }
            do {
                try await persistMetadata(w.ino)
            } catch .notSupported {
                logger.notice("mode/owner/mtime of an Appendable object stay in memory", metadata: ["key": "\(w.key)"])
            }
            w.metadataDirty.withLock { $0 = false }
        }
        guard let result else { return }
        updateAfterUpload(w, result)
    }

    func updateAfterUpload(_ w: WriteHandle, _ result: WriteResult) {
        let size = w.size
        let now = clock.now()
        state.withLock { s in
            if var n = s.table[w.ino] {
                n.etag = result.etag
                n.attributes.size = size
                n.validatedAt = now
                s.table[w.ino] = n
            }
        }
    }

    public func releaseWriter(_ handle: UInt64) async {
        // Normally the last flush uploaded everything; anything newer still lands.
        do { try await flush(handle, final: true) } catch {
            logger.error("upload at release failed", metadata: ["handle": "\(handle)", "error": "\(error)"])
        }
        guard let w = state.withLock({ $0.writers.removeValue(forKey: handle) }) else { return }
        w.upload.close()
        if case .append(let a) = w.current { a.stop() }
    }

    public func mkdir(parent: InodeNumber, name: String, mode: UInt32) async throws(VFSError) -> Entry {
        let (_, key) = try target(parent, name)
        let existing = try await headIfExists(key)
        let isDirectory = try await directoryExists(key + "/")
        if existing != nil || isDirectory { throw .exists }
        do {
            _ = try await client.putObject(key + "/", bytes: [], options: writeOptions(mode: (mode & 0o7777) & ~config.umask))
        } catch {
            throw VFSError(error)
        }
        return entry(remember(directoryKey: key + "/", lookups: 1))
    }

    /// Looks `name` up afresh in `parent` (for removals, which must not act on stale cache).
    func child(_ parent: InodeNumber, _ name: String) async throws(VFSError) -> (dir: Inode, key: String, isDirectory: Bool) {
        let (dir, key) = try target(parent, name)
        async let head = headIfExists(key)
        async let children = directoryExists(key + "/")
        do {
            let (info, isDir) = try await (head, children)
            if isDir { return (dir, key, true) }
            if info != nil { return (dir, key, false) }
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
            s.listAhead.forgetAll()
        }
    }

    public func unlink(parent: InodeNumber, name: String) async throws(VFSError) {
        let (_, key, isDirectory) = try await child(parent, name)
        if isDirectory { throw .isDirectory }
        do { try await client.deleteObject(key) } catch { throw VFSError(error) }
        dropKey(key)
    }

    public func rmdir(parent: InodeNumber, name: String) async throws(VFSError) {
        let (_, key, isDirectory) = try await child(parent, name)
        guard isDirectory else { throw .notDirectory }
        let prefix = key + "/"
        do {
            let page = try await client.listObjects(ListRequest(prefix: prefix, delimiter: "/", maxKeys: 2))
            // Anything but the directory's own marker means it has children.
            if !page.commonPrefixes.isEmpty || page.objects.contains(where: { $0.key != prefix }) { throw VFSError.notEmpty }
            try await client.deleteObject(prefix)
        } catch let e as VFSError {
            throw e
        } catch {
            throw VFSError(error)
        }
        dropKey(prefix)
    }
}

extension VFS {
    /// Size changes: on a handle open for writing, through its staging file; otherwise a
    /// truncation to 0 rewrites the object empty. Mode, owner and mtime are stored in
    /// `x-oss-meta-*`: with the upload at close for a file open for writing, else by a
    /// CopyObject of the object onto itself with REPLACE (directories: in memory only).
    public func setattr(_ ino: InodeNumber, _ change: AttributeChange, handle: UInt64?) async throws(VFSError)
        -> FileAttributes
    {
        if config.readOnly { throw .readOnly }
        var node = try inode(ino)
        if let size = change.size {
            guard node.kind == .file else { throw .isDirectory }
            try await resize(node, to: size, handle: handle)
            node = try inode(ino)
        }
        guard change.touchesMetadata else { return node.attributes }
        var a = node.attributes
        if let m = change.mode { a.mode = m & 0o7777 }
        if let u = change.uid { a.uid = u }
        if let g = change.gid { a.gid = g }
        if let t = change.mtime { a.mtime = Timestamp(seconds: Int64(t), nanoseconds: Int32((t - t.rounded(.down)) * 1e9)) }
        let updated = a
        let writers = state.withLock { s in
            if var n = s.table[ino] {
                n.attributes = updated
                n.validatedAt = clock.now()
                s.table[ino] = n
            }
            return s.writers.values.filter { $0.ino == ino }
        }
        if node.kind == .file {
            if writers.isEmpty {
                try await persistMetadata(ino)
            } else {
                for w in writers { w.metadataDirty.withLock { $0 = true } }  // stored at close
            }
        }
        return updated
    }

    /// Stores the inode's mode, owner and mtime on its object: CopyObject onto itself with
    /// REPLACE, keeping the other metadata and the content type.
    func persistMetadata(_ ino: InodeNumber) async throws(VFSError) {
        let node = try inode(ino)
        do {
            let info = try await client.headObject(node.key, ifMatch: nil)
            // An Appendable object cannot be a copy source: only a rewrite could change it.
            if info.type == .appendable { throw VFSError.notSupported }
            var meta = info.userMetadata
            for (k, v) in writeOptions(node.attributes).userMetadata { meta[k] = v }
            let result = try await client.copyObject(
                from: node.key, to: node.key,
                directive: .replace(WriteOptions(contentType: info.contentType, userMetadata: meta)),
                sourceIfMatch: info.etag)
            state.withLock { s in
                if var n = s.table[ino] { n.etag = result.etag; s.table[ino] = n }
            }
        } catch {
            throw VFSError(error)
        }
    }

    func resize(_ node: Inode, to size: UInt64, handle: UInt64?) async throws(VFSError) {
        // A truncate of a file open for writing goes to that upload, whether or not the
        // kernel named the handle (ftruncate does; truncate(2) on the path does not).
        let writer = state.withLock { s in
            handle.flatMap { s.writers[$0] } ?? s.writers.values.first { $0.ino == node.ino }
        }
        if let w = writer {
            if size != w.size {
                try await serialized(w) { () async throws(VFSError) in try await staged(w).truncate(size) }
            }
        } else if size != node.attributes.size || size == 0 {
            guard size == 0 else { throw .notSupported }
            do {
                let r = try await client.putObject(node.key, bytes: [], options: writeOptions(node.attributes))
                state.withLock { s in
                    if var n = s.table[node.ino] { n.etag = r.etag; s.table[node.ino] = n }
                }
            } catch {
                throw VFSError(error)
            }
        }
        state.withLock { s in
            if var n = s.table[node.ino] {
                n.attributes.size = size
                s.table[node.ino] = n
            }
        }
    }
}
