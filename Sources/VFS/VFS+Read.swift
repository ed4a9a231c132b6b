// Opening and reading files. A handle pins the ETag seen at open: every read is
// an If-Match GET, so an object replaced while open gives ESTALE, never a mix of
// old and new bytes.
import ObjectStore

struct FileHandle: Sendable {
    let ino: InodeNumber
    let key: String
    let etag: ETag?
    let size: UInt64
    let reader: PrefetchingReader
}

extension VFS {
    public func open(_ ino: InodeNumber, writable: Bool, truncate: Bool = false) async throws(VFSError)
        -> (handle: UInt64, keepCache: Bool)
    {
        let node = try inode(ino)
        guard node.kind != .directory else { throw .isDirectory }
        if writable { return (try await openForWrite(node, truncate: truncate), false) }
        if let ready = openWithoutIO(ino) { return ready }
        guard let info = try await headIfExists(node.key) else { throw .notFound }
        // A changed object must not be served from the kernel's page cache.
        let fresh = remember(fileKey: node.key, info: info, lookups: 0)
        return (readHandle(fresh), config.keepCache && info.etag == node.etag)
    }

    /// `open` for reading when it needs no request (attributes fresh, no
    /// `close_to_open`), else nil.
    public func openWithoutIO(_ ino: InodeNumber) -> (handle: UInt64, keepCache: Bool)? {
        guard !config.closeToOpen, let node = try? inode(ino), node.kind != .directory,
            clock.now() - node.validatedAt < config.attrTimeout
        else { return nil }
        return (readHandle(node), config.keepCache)
    }

    private func readHandle(_ node: Inode) -> UInt64 {
        let ino = node.ino
        let reader = PrefetchingReader(client: client, key: node.key, etag: node.etag, size: node.attributes.size,
                                       chunkSize: config.prefetchChunkSize, maxWindow: config.prefetchConcurrency,
                                       pool: pool)
        let handle = FileHandle(ino: ino, key: node.key, etag: node.etag, size: node.attributes.size, reader: reader)
        return state.withLock { s in
            let h = s.nextHandle
            s.nextHandle += 1
            s.files[h] = handle
            return h
        }
    }

    public func read(_ handle: UInt64, offset: Int64, size: Int) async throws(VFSError) -> ReadData {
        if let w = state.withLock({ $0.writers[handle] }) {
            // Reading back through a handle open for writing (O_RDWR): from the staging file.
            let bytes = try await serialized(w) { () async throws(VFSError) -> [UInt8] in
                try await staged(w).read(offset: UInt64(offset), count: size)
            }
            return ReadData(bytes: bytes)
        }
        guard let h = state.withLock({ $0.files[handle] }) else { throw .badHandle }
        guard offset >= 0 else { throw .invalidArgument }
        logger.trace("read", metadata: ["key": "\(h.key)", "offset": "\(offset)", "size": "\(size)"])
        do {
            return try await h.reader.read(offset: UInt64(offset), size: size)
        } catch {
            throw VFSError(error)
        }
    }

    public func release(_ handle: UInt64) async {
        if !releaseWithoutIO(handle) { await releaseWriter(handle) }
    }

    /// Releases a handle open for reading (no I/O); false for any other handle.
    public func releaseWithoutIO(_ handle: UInt64) -> Bool {
        guard let h = state.withLock({ $0.files.removeValue(forKey: handle) }) else { return false }
        h.reader.close()
        return true
    }

    public func isWriter(_ handle: UInt64) -> Bool { state.withLock { $0.writers[handle] != nil } }
}
