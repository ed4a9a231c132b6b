// setattr: size, mode, owner and times. Every change of the stored object runs
// under the key's lock (KeyLocks), after whatever close of the same key came
// first. Mode, owner and mtime live in `x-oss-meta-*` (the names ossfs and s3fs
// use) and are stored by a CopyObject of the object onto itself (REPLACE); a file
// open for writing and not stored yet takes them with its first upload instead.
// A size change of a file not open goes through a staging file (the object is
// rewritten); of a file open for writing, through its handle.
import ObjectStore

/// What a setattr changes (nil: unchanged).
public struct AttributeChange: Sendable {
    public var size: UInt64?
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    public var mtime: Timestamp?
    public var atime: Timestamp?
    public init(size: UInt64? = nil, mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, mtime: Timestamp? = nil,
                atime: Timestamp? = nil) {
        self.atime = atime
        self.size = size
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
    }
    var touchesMetadata: Bool { mode != nil || uid != nil || gid != nil || mtime != nil || atime != nil }
}

extension VFS {
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
        if let t = change.mtime { a.mtime = t }
        if let t = change.atime { a.atime = t }
        a.ctime = wallTimestamp()  // any change of the inode
        let updated = a
        state.withLock { s in
            if var n = s.table[ino] {
                n.attributes.mode = updated.mode
                n.attributes.uid = updated.uid
                n.attributes.gid = updated.gid
                n.attributes.mtime = updated.mtime
                n.attributes.atime = updated.atime
                n.attributes.ctime = updated.ctime
                n.validatedAt = clock.now()
                s.table[ino] = n
            }
        }
        guard node.kind == .file else { return updated }  // directories and links: in memory only
        try await withOwnKeyLocked(ino) { (current: Inode) async throws(VFSError) in
            let open = writers(of: ino).filter { !$0.state.withLock { $0.unlinked } }
            for w in open { w.state.withLock { $0.metadataPending = true } }
            // Not stored yet: the first upload takes the new values.
            if open.contains(where: { !$0.state.withLock { $0.stored } }) { return }
            try await persistMetadataLocked(ino, key: current.key)
        }
        return try inode(ino).attributes
    }

    /// Runs `body` holding the lock of the key the inode has once the lock is held (a
    /// rename may move it meanwhile: then that key's lock is taken instead). An inode that
    /// lost its key (its name was replaced or removed through this mount while the
    /// request waited) has no object of its own any more: `body` does not run, and the
    /// change applies to it alone, as to an unlinked file.
    func withOwnKeyLocked(_ ino: InodeNumber, _ body: (Inode) async throws(VFSError) -> Void) async throws(VFSError) {
        var key = try inode(ino).key
        while true {
            let done = try await keyLocks.with(key) { () async throws(VFSError) -> Bool in
                let current = try inode(ino)
                guard current.key.bytesEqual(key) else { return false }  // moved meanwhile: lock its new key
                if isBound(current) { try await body(current) }
                return true
            }
            if done { return }
            key = try inode(ino).key
        }
    }

    /// Stores the inode's mode, owner and mtime on its object: CopyObject onto itself with
    /// REPLACE, keeping the other metadata and the content type. The caller holds the
    /// key's lock.
    func persistMetadataLocked(_ ino: InodeNumber, key: String) async throws(VFSError) {
        let node = try inode(ino)
        do {
            let info = try await client.headObject(key, ifMatch: nil)
            // An Appendable object cannot be a copy source: only a rewrite could change it.
            if info.type == .appendable { throw VFSError.notSupported }
            var meta = info.userMetadata
            for (k, v) in writeOptions(node.attributes, key: key).userMetadata { meta[k] = v }
            let result = try await client.copyObject(
                from: key, to: key, directive: .replace(WriteOptions(contentType: info.contentType, userMetadata: meta)),
                sourceIfMatch: info.etag)
            recordStored(ino, etag: result.etag, size: nil)
        } catch {
            throw VFSError(error)
        }
    }

    func resize(_ node: Inode, to size: UInt64, handle: UInt64?) async throws(VFSError) {
        // Past OSS's largest object nothing could be stored: refused before any staging.
        guard size <= Multipart.maxObjectSize else { throw .tooLarge }
        // A truncate of a file open for writing goes to that handle, whether or not the
        // kernel named it (ftruncate does; truncate(2) on the path does not).
        let writer = state.withLock { s in
            handle.flatMap { s.writers[$0] } ?? s.writers.values.first { $0.ino == node.ino && !$0.state.withLock { $0.unlinked } }
        }
        if let w = writer {
            if size != w.size {
                try await serialized(w) { () async throws(VFSError) in try await staged(w).truncate(size) }
            }
        } else {
            try await withOwnKeyLocked(node.ino) { (current: Inode) async throws(VFSError) in
                try await truncateObject(current, to: size)
            }
        }
        let mtime = wallTimestamp()
        state.withLock { s in
            if var n = s.table[node.ino] {
                n.attributes.size = size
                n.attributes.mtime = mtime
                n.attributes.ctime = mtime
                s.table[node.ino] = n
            }
        }
    }

    /// truncate(2) of a file not open: the object rewritten at `size` (its first bytes
    /// kept, zeros after), with its metadata and content type. The caller holds the lock.
    private func truncateObject(_ node: Inode, to size: UInt64) async throws(VFSError) {
        guard let info = try await headIfExists(node.key) else { throw .notFound }
        if info.size == size && size > 0 { return }
        var attributes = node.attributes
        attributes.mtime = wallTimestamp()
        attributes.ctime = attributes.mtime
        let options = writeOptions(attributes, key: node.key)
            .keeping(WriteOptions(contentType: info.contentType, userMetadata: info.userMetadata))
        let result: WriteResult?
        if size == 0 {
            do { result = try await client.putObject(node.key, bytes: [], options: options) } catch { throw VFSError(error) }
        } else {
            let file = try newStagingFile()
            try await file.fill(from: client, key: node.key, etag: info.etag, size: min(size, info.size),
                                chunk: config.prefetchChunkSize)
            try await file.truncate(size)
            result = try await file.upload(client: client, key: node.key, options: options,
                                           partSize: config.uploadBufferSize, pool: pool)
        }
        if let result { recordStored(node.ino, etag: result.etag, size: size) }
    }
}
