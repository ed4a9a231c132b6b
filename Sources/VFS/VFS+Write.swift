// Writing: new files and whole-file rewrites streamed front to back (a
// multipart upload from the first full part; a PutObject when small); edits of
// existing objects and writes that seek back go through a staging file. The
// namespace operations mkdir, unlink, rmdir are here too. The object appears at
// close (flush): its error is close()'s error, and a failed upload leaves no
// object behind. Not yet: rename, persisted chmod/chown/utimens.
import ObjectStore
import Synchronization

final class WriteHandle: Sendable {
    let ino: InodeNumber
    let key: String
    let upload: SequentialUpload
    /// Set once the handle switched to a staging file.
    let staging = Mutex<StagingFile?>(nil)
    /// One write, read, flush or truncate of this handle at a time.
    let gate = AsyncGate()

    init(ino: InodeNumber, key: String, upload: SequentialUpload) {
        self.ino = ino
        self.key = key
        self.upload = upload
    }

    var stagingFile: StagingFile? { staging.withLock { $0 } }
    var size: UInt64 { stagingFile?.size ?? upload.size }
}

extension VFS {
    func writeOptions(mode: UInt32) -> WriteOptions {
        // The names ossfs uses, so buckets written by either read the same.
        WriteOptions(userMetadata: ["mode": String(mode & 0o7777), "uid": String(config.uid), "gid": String(config.gid)])
    }

    func newUpload(key: String, mode: UInt32) -> SequentialUpload {
        SequentialUpload(client: client, key: key, options: writeOptions(mode: mode), partSize: config.uploadBufferSize,
                         concurrency: config.uploadConcurrency, pool: pool)
    }

    func addWriteHandle(_ ino: InodeNumber, key: String, upload: SequentialUpload) -> UInt64 {
        state.withLock { s in
            let h = s.nextHandle
            s.nextHandle += 1
            s.writers[h] = WriteHandle(ino: ino, key: key, upload: upload)
            return h
        }
    }

    public func create(parent: InodeNumber, name: String, mode: UInt32) async throws(VFSError) -> (Entry, UInt64) {
        if config.readOnly { throw .readOnly }
        let dir = try inode(parent)
        guard dir.kind == .directory else { throw .notDirectory }
        try Self.validName(name)
        let key = dir.key + name
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
        let h = addWriteHandle(node.ino, key: key, upload: newUpload(key: key, mode: perms))
        return (entry(node), h)
    }

    /// Opens an existing file for writing: a whole rewrite streams (O_TRUNC, or an empty
    /// file); an edit or append copies the object into a staging file first.
    func openForWrite(_ node: Inode, truncate: Bool) async throws(VFSError) -> UInt64 {
        if config.readOnly { throw .readOnly }
        let upload = newUpload(key: node.key, mode: node.attributes.mode)
        let h = addWriteHandle(node.ino, key: node.key, upload: upload)
        guard !truncate && node.attributes.size > 0 else { return h }
        let file = try StagingFile(directory: config.stagingDirectory)
        try await file.fill(from: client, key: node.key, etag: node.etag, size: node.attributes.size,
                            chunk: config.prefetchChunkSize)
        _ = try? await upload.takeBufferedIfSmall()
        state.withLock { $0.writers[h] }?.staging.withLock { $0 = file }
        return h
    }

    /// The handle's staging file, switching to one if the data is still all in memory.
    func staged(_ w: WriteHandle) async throws(VFSError) -> StagingFile {
        if let file = w.stagingFile { return file }
        let bytes: [UInt8]?
        do { bytes = try await w.upload.takeBufferedIfSmall() } catch { throw VFSError(error) }
        // Parts already went out: their bytes are gone from memory (not supported yet).
        guard let bytes else { throw .notSupported }
        let file = try StagingFile(directory: config.stagingDirectory)
        try file.write(offset: 0, bytes: bytes)
        w.staging.withLock { $0 = file }
        return file
    }

    func writer(_ handle: UInt64) throws(VFSError) -> WriteHandle {
        guard let w = state.withLock({ $0.writers[handle] }) else { throw .badHandle }
        return w
    }

    /// Runs `body` under the handle's gate with typed errors.
    func serialized<T: Sendable>(_ w: WriteHandle, _ body: @Sendable () async throws(VFSError) -> T) async throws(VFSError) -> T {
        do {
            return try await w.gate.run { () async throws -> T in try await body() }
        } catch let e as VFSError {
            throw e
        } catch {
            throw VFSError(error)
        }
    }

    public func write(_ handle: UInt64, offset: Int64, bytes: [UInt8]) async throws(VFSError) -> Int {
        let w = try writer(handle)
        try await serialized(w) { () async throws(VFSError) in
            if let file = w.stagingFile {
                try file.write(offset: UInt64(offset), bytes: bytes)
                return
            }
            let sequential: Bool
            do { sequential = try await w.upload.write(offset: UInt64(offset), bytes: bytes) } catch { throw VFSError(error) }
            if !sequential { try await staged(w).write(offset: UInt64(offset), bytes: bytes) }
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

    /// Close (and fsync): the object becomes whole on OSS, or the error is returned.
    public func flush(_ handle: UInt64) async throws(VFSError) {
        guard let w = state.withLock({ $0.writers[handle] }) else { return }
        let options = writeOptions(mode: (try? inode(w.ino))?.attributes.mode ?? config.fileMode)
        let (partSize, pool, client) = (config.uploadBufferSize, self.pool, self.client)
        let result: WriteResult?
        do {
            result = try await serialized(w) { () async throws(VFSError) -> WriteResult? in
                if let file = w.stagingFile {
                    return try await file.upload(client: client, key: w.key, options: options, partSize: partSize, pool: pool)
                }
                do { return try await w.upload.finish() } catch { throw VFSError(error) }
            }
        } catch {
            logger.error("upload failed", metadata: ["key": "\(w.key)", "error": "\(error)"])
            throw error
        }
        guard let result else { return }
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
        try? await flush(handle)
        state.withLock { $0.writers.removeValue(forKey: handle) }?.upload.close()
    }

    public func mkdir(parent: InodeNumber, name: String, mode: UInt32) async throws(VFSError) -> Entry {
        if config.readOnly { throw .readOnly }
        let dir = try inode(parent)
        guard dir.kind == .directory else { throw .notDirectory }
        try Self.validName(name)
        let key = dir.key + name
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
        if config.readOnly { throw .readOnly }
        let dir = try inode(parent)
        guard dir.kind == .directory else { throw .notDirectory }
        try Self.validName(name)
        let key = dir.key + name
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
    /// Truncation to 0 (or to the current size) works; other sizes come with staging files.
    /// Mode, owner and time changes are accepted but not yet persisted (issue [write]).
    public func setattr(_ ino: InodeNumber, size: UInt64?, handle: UInt64?) async throws(VFSError) -> FileAttributes {
        if config.readOnly { throw .readOnly }
        let node = try inode(ino)
        guard let size else { return node.attributes }
        guard node.kind == .file else { throw .isDirectory }
        if let handle, let w = state.withLock({ $0.writers[handle] }) {
            if size != w.size {
                try await serialized(w) { () async throws(VFSError) in try await staged(w).truncate(size) }
            }
            return state.withLock { s in
                guard var n = s.table[ino] else { return node.attributes }
                n.attributes.size = size
                s.table[ino] = n
                return n.attributes
            }
        }
        if size == node.attributes.size && size != 0 { return node.attributes }
        guard size == 0 else { throw .notSupported }
        let result: WriteResult
        do {
            result = try await client.putObject(node.key, bytes: [], options: writeOptions(mode: node.attributes.mode))
        } catch {
            throw VFSError(error)
        }
        let now = clock.now()
        return state.withLock { s in
            guard var n = s.table[ino] else { return node.attributes }
            n.attributes.size = 0
            n.etag = result.etag
            n.validatedAt = now
            s.table[ino] = n
            return n.attributes
        }
    }
}
