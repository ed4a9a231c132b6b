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
    /// A write handle of the same file holding a local copy (a pending truncate or
    /// edit): reads come from it, as this mount has the file.
    let local: WriteHandle?
}

extension VFS {
    public func open(_ ino: InodeNumber, writable: Bool, truncate: Bool = false) async throws(VFSError)
        -> (handle: UInt64, keepCache: Bool)
    {
        let node = try inode(ino)
        guard node.kind != .directory else { throw .isDirectory }
        // Reached through a name that was removed or replaced since the kernel looked it
        // up: the file it named is gone (another file may have its key now).
        guard isBound(node) else { throw .stale }
        if writable { return (try await openForWrite(node, truncate: truncate), false) }
        switch quickOpen(ino) {
        case .ready(let fresh, let keep): return (readHandle(fresh), keep)
        case .dropPagesFirst(let etag):
            // Fresh attributes, but the kernel holds pages of another object: no request,
            // just those pages dropped before the open is answered.
            _ = await keepPageCache(ino, etag: etag)
            if case .ready(let fresh, _) = quickOpen(ino) { return (readHandle(fresh), false) }
        case .needsIO: break
        }
        let open = writers(of: ino)
        if let local = open.first(where: { $0.stagingFile != nil }) { return (readHandle(node, local: local), false) }
        guard let info = try await headIfExists(node.key) else {
            // Created here, not stored yet: empty until its writer closes.
            if !open.isEmpty { return (readHandle(node, size: 0), false) }
            throw .notFound
        }
        // A changed object must not be served from the kernel's page cache.
        let fresh = remember(fileKey: node.key, info: info, lookups: 0)
        let keep = await keepPageCache(ino, etag: info.etag)
        return (readHandle(fresh, size: info.size), keep && open.isEmpty)
    }

    /// `open` for reading when it needs no request (attributes fresh, no
    /// `close_to_open`, nobody writing it here, no pages of another object in the
    /// kernel), else nil.
    /// Called on the FUSE thread for every open of a small file: one look at the state,
    /// no allocation.
    public func openWithoutIO(_ ino: InodeNumber) -> (handle: UInt64, keepCache: Bool)? {
        guard case .ready(let node, let keep) = quickOpen(ino) else { return nil }
        return (readHandle(node), keep)
    }

    enum QuickOpen {
        /// The file as it is, to open with no request; whether the kernel keeps its pages.
        case ready(Inode, keepCache: Bool)
        /// As `ready` once the kernel's pages of another object (this ETag's now) are dropped.
        case dropPagesFirst(ETag)
        case needsIO
    }

    func quickOpen(_ ino: InodeNumber) -> QuickOpen {
        guard !config.closeToOpen else { return .needsIO }
        let now = clock.now()
        return state.withLock { s in
            guard let node = s.table[ino], node.kind != .directory, now - node.validatedAt < config.attrTimeout,
                s.table.ino(forKey: node.key) == ino,  // still bound to its name
                !s.writes(ino)
            else { return .needsIO }
            guard let etag = node.etag else { return .ready(node, keepCache: false) }
            switch node.kernelPages {
            case .of(etag): return .ready(node, keepCache: config.keepCache)
            case .none:
                s.table[ino]?.kernelPages = .of(etag)
                return .ready(node, keepCache: false)
            case .of, .unknown: return .dropPagesFirst(etag)
            }
        }
    }

    /// Whether the kernel may keep the pages it has of `ino`: only if they are of the
    /// object it is now (`etag`). Pages of another object, or written here, are dropped
    /// before the open is answered, and only then counted as `etag`'s: the open's own
    /// keep_cache=0 drops them only once its opener runs again, and another open of the
    /// file answered meanwhile would read them.
    func keepPageCache(_ ino: InodeNumber, etag: ETag) async -> Bool {
        guard let pages = state.withLock({ $0.table[ino]?.kernelPages }) else { return false }
        if pages == .of(etag) { return config.keepCache }
        if pages != .none, let kernel = config.kernelPageCache {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in kernel.invalidate(ino) { c.resume() } }
        }
        state.withLock { s in s.table[ino]?.kernelPages = .of(etag) }
        return false
    }

    private func readHandle(_ node: Inode, size: UInt64? = nil, local: WriteHandle? = nil) -> UInt64 {
        let ino = node.ino
        let size = size ?? node.attributes.size
        let reader = PrefetchingReader(client: client, key: node.key, etag: node.etag, size: size,
                                       chunkSize: config.prefetchChunkSize, maxWindow: config.prefetchConcurrency,
                                       pool: pool, budget: prefetchBudget, metrics: readMetrics, cache: config.chunkCache,
                                       fill: pageFill(node, local: local))
        let handle = FileHandle(ino: ino, key: node.key, etag: node.etag, size: size, reader: reader, local: local)
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
        if let w = h.local, w.stagingFile != nil {
            let bytes = try await serialized(w) { () async throws(VFSError) -> [UInt8] in
                try await staged(w).read(offset: UInt64(offset), count: size)
            }
            return ReadData(bytes: bytes)
        }
        logger.trace("read", metadata: ["key": "\(h.key)", "offset": "\(offset)", "size": "\(size)"])
        do {
            return try await h.reader.read(offset: UInt64(offset), size: size)
        } catch {
            throw VFSError(error)
        }
    }

    /// A read of a file open for reading, planned at once and served in the caller's
    /// thread when its bytes are here (chunks that arrived, or pages of the local cache,
    /// read in this thread: call it only from one that may block); else what is left to
    /// await. nil: use `read` (handles open for writing, staged files, bad arguments).
    public func readNow(_ handle: UInt64, offset: Int64, size: Int) -> ImmediateRead? {
        guard offset >= 0, let h = state.withLock({ $0.writers[handle] == nil ? $0.files[handle] : nil }) else { return nil }
        if let w = h.local, w.stagingFile != nil { return nil }
        logger.trace("read", metadata: ["key": "\(h.key)", "offset": "\(offset)", "size": "\(size)"])
        let reader = h.reader
        let plan = reader.plan(offset: UInt64(offset), size: size, mayBlock: true)
        if let data = reader.readyNow(plan, mayBlock: true) { return .done(data) }
        let finish = { @Sendable () async throws(VFSError) -> ReadData in
            do { return try await reader.finish(plan) } catch { throw VFSError(error) }
        }
        guard plan.serve != nil else {
            return .whenArrived({ deliver in if !reader.startDirectRead(plan, deliver) { deliver(nil) } },
                                otherwise: finish)
        }
        return .whenArrived({ deliver in reader.whenArrived(plan, deliver) }, otherwise: finish)
    }

    public func release(_ handle: UInt64) async {
        if !releaseWithoutIO(handle) { await releaseWriter(handle) }
    }

    /// Releases a handle open for reading (no I/O); false for any other handle.
    public func releaseWithoutIO(_ handle: UInt64) -> Bool {
        let released = state.withLock { s -> (FileHandle, hidden: Bool)? in
            guard let h = s.files.removeValue(forKey: handle) else { return nil }
            return (h, s.hidden[h.key] != nil)
        }
        guard let (h, hidden) = released else { return false }
        h.reader.close()
        if hidden { readerClosed(h.key) }
        return true
    }
}
