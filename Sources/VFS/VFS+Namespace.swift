// rename and symlink. OSS has no rename: a file is copied (CopyObject, or
// UploadPartCopy in parallel ranges above 1 GB) and then deleted; a directory is
// every key under it, copied in parallel (bounded) and deleted only once all
// copies succeeded, so a failure midway leaves both trees readable and is
// reported. Not atomic (docs/SEMANTICS.md).
import ObjectStore

extension VFS {
    /// CopyObject handles objects up to 1 GB on OSS; larger ones are copied in parts.
    static let singleCopyLimit: UInt64 = 1 << 30
    /// Range per UploadPartCopy, and how many run at once.
    static let copyPartSize: UInt64 = 256 << 20
    static let copyConcurrency = 8

    /// OSS cannot copy an Appendable object: its bytes are read and written again, one
    /// chunk at a time (the copy is a Normal or Multipart object).
    func rewriteAppendable(_ info: ObjectInfo, to destination: String) async throws {
        let options = WriteOptions(contentType: info.contentType, userMetadata: info.userMetadata)
        let chunk = UInt64(config.uploadBufferSize)  // a part size OSS accepts (>= 100 KB)
        if info.size <= chunk {
            _ = try await client.putObject(destination, bytes: try await client.getBytes(info.key, ifMatch: info.etag),
                                           options: options)
            return
        }
        _ = try await Multipart.upload(client, key: destination, options: options, size: info.size, partSize: Int(chunk)) {
            try await client.getBytes(info.key, range: $0, ifMatch: info.etag)
        }
    }

    func copyObject(_ source: String, to destination: String) async throws {
        // Symlink-aware: a link whose target is missing is still copied.
        guard let info = try await headIfExists(source) else { throw VFSError.notFound }
        if info.type == .appendable { return try await rewriteAppendable(info, to: destination) }
        if info.size <= Self.singleCopyLimit || info.type == .symlink {
            if info.type == .symlink {
                // The link keeps its text (as rename(2) keeps it): a relative target is resolved
                // again from the link's new directory; an absolute one stays as it is.
                let link = try await client.getSymlink(source)
                var target = link.target
                if !target.hasPrefix("/") {
                    let text = Self.relativeTarget(target, linkKey: source)
                    let directory = destination.lastIndex(of: "/").map { String(destination[...$0]) } ?? ""
                    target = Self.targetKey(text, linkDirectory: directory)
                }
                _ = try await client.putSymlink(destination, target: target,
                                                options: WriteOptions(userMetadata: link.userMetadata))
            } else {
                _ = try await client.copyObject(from: source, to: destination, directive: .copy, sourceIfMatch: info.etag)
            }
            return
        }
        let options = WriteOptions(contentType: info.contentType, userMetadata: info.userMetadata)
        let partSize = try Multipart.partSize(for: info.size, atLeast: Self.copyPartSize)
        _ = try await Multipart.upload(client, key: destination, options: options) { id in
            try await withThrowingTaskGroup(of: PartInfo.self) { group in
                var parts: [PartInfo] = []
                for (i, range) in Multipart.ranges(info.size, partSize: partSize).enumerated() {
                    if i >= Self.copyConcurrency, let done = try await group.next() { parts.append(done) }
                    group.addTask {
                        try await self.client.uploadPartCopy(destination, uploadId: id, partNumber: i + 1, source: source,
                                                             range: range, sourceIfMatch: info.etag)
                    }
                }
                for try await done in group { parts.append(done) }
                return parts
            }
        }
    }

    /// Every key under `prefix` (no delimiter), in order.
    func allKeys(under prefix: String) async throws -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            let page = try await client.listObjects(ListRequest(prefix: prefix, delimiter: nil, maxKeys: 1000,
                                                                continuationToken: token))
            keys += page.objects.map(\.key)
            token = page.isTruncated ? page.nextContinuationToken : nil
        } while token != nil
        return keys
    }

    public func rename(parent: InodeNumber, name: String, newParent: InodeNumber, newName: String, noReplace: Bool,
                       exchange: Bool) async throws(VFSError) {
        if exchange { throw .invalidArgument }
        let (dir, key) = try target(parent, name)
        let (newDir, destination) = try target(newParent, newName)
        let r = RenameRequest(parent: parent, name: name, key: key, newParent: newParent, newName: newName,
                              destination: destination, newDir: newDir, noReplace: noReplace)
        // Open writers of the file move with it: each stores what it holds under the old
        // name first (holding its gate, so no write slips in), then continues at the new one.
        // Writers register under the key's lock (openForWrite): if one registered after this
        // snapshot, the set is taken again.
        var done = false
        while !done {
            let moving = writers(of: key).sorted { ObjectIdentifier($0) < ObjectIdentifier($1) }
            done = try await rename(r, moving: moving)
        }
        touchDirectory(dir.ino)
        touchDirectory(newDir.ino)
    }

    /// One rename: the source and destination names and keys.
    struct RenameRequest: Sendable {
        var parent: InodeNumber, name: String, key: String
        var newParent: InodeNumber, newName: String, destination: String, newDir: Inode
        var noReplace: Bool
    }

    /// The rename with the gates of `moving` held; false (nothing done) when other writers
    /// of the source registered meanwhile.
    private func rename(_ r: RenameRequest, moving: [WriteHandle]) async throws(VFSError) -> Bool {
        let locks = [r.key, r.key + "/", r.destination, r.destination + "/"]
        return try await creatingEntry(in: r.newDir) { () async throws(VFSError) -> Bool in
            try await withGates(moving[...]) { () async throws(VFSError) -> Bool in
                try await keyLocks.with(locks) { () async throws(VFSError) -> Bool in
                    guard Set(writers(of: r.key).map(ObjectIdentifier.init)) == Set(moving.map(ObjectIdentifier.init)) else {
                        return false
                    }
                    for w in moving where w.key.bytesEqual(r.key) { try await store(w) }
                    try await renameLocked(r)
                    guard !moving.isEmpty else { return true }
                    let info = try await headIfExists(r.destination)
                    for w in moving where w.key.bytesEqual(r.key) { retarget(w, to: r.destination, object: info) }
                    return true
                }
            }
        }
    }

    /// Runs `body` holding the gates of `handles`, in the order given.
    private func withGates<T: Sendable>(_ handles: ArraySlice<WriteHandle>, _ body: @Sendable () async throws(VFSError) -> T)
        async throws(VFSError) -> T
    {
        guard let first = handles.first else { return try await body() }
        let rest = handles.dropFirst()
        return try await serialized(first) { () async throws(VFSError) -> T in try await withGates(rest, body) }
    }

    /// A write handle whose file was renamed to `key` (stored there as `object`): a local
    /// copy stays where it is; anything else continues the object at its new name.
    private func retarget(_ w: WriteHandle, to key: String, object: ObjectInfo?) {
        let old = w.phase
        w.state.withLock { s in
            s.key = key
            s.stored = object != nil
            if case .staged = s.phase { return }
            s.phase = .undecided(etag: object?.etag, size: object?.size ?? 0)
        }
        switch old {
        case .streaming(let u): u.close()
        case .appending(let a): a.stop()
        default: break
        }
    }

    private func renameLocked(_ r: RenameRequest) async throws(VFSError) {
        let (key, destination) = (r.key, r.destination)
        let (_, _, isDirectory) = try await child(r.parent, r.name)
        let existing = try? await child(r.newParent, r.newName)
        if let existing, r.noReplace || existing.key.bytesEqual(key) && existing.isDirectory == isDirectory {
            if r.noReplace { throw .exists }
            return  // renaming onto itself
        }
        do {
            if isDirectory {
                if let existing {
                    guard existing.isDirectory else { throw VFSError.notDirectory }
                    let children = try await allKeys(under: destination + "/")
                    guard children.allSatisfy({ $0 == destination + "/" }) else { throw VFSError.notEmpty }
                }
                try await renameDirectory(key + "/", to: destination + "/")
            } else {
                if existing?.isDirectory == true { throw VFSError.isDirectory }
                unlinkWriters(of: destination)  // a replaced file open for writing is orphaned
                try await copyObject(key, to: destination)
                unhide(destination)
                try await removeObjectLocked(key)
                rekey(from: key, to: destination, prefix: false)
            }
        } catch {
            throw VFSError(error)
        }
    }

    func renameDirectory(_ source: String, to destination: String) async throws {
        let keys = try await allKeys(under: source)
        // Every key must fit under its new name before anything is copied.
        let growth = destination.utf8.count - source.utf8.count
        guard keys.allSatisfy({ $0.utf8.count + growth <= Self.maxKeyBytes }) else { throw VFSError.nameTooLong }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, key) in keys.enumerated() {
                if i >= 16 { try await group.next() }
                group.addTask { try await self.copyObject(key, to: destination + key.droppingBytePrefix(source)) }
            }
            try await group.waitForAll()
        }
        if keys.isEmpty {  // an implicit directory with nothing in it: leave a marker at the new name
            _ = try await client.putObject(destination, bytes: [])
        }
        for batch in stride(from: 0, to: keys.count, by: 1000) {
            _ = try await client.deleteObjects(Array(keys[batch..<min(keys.count, batch + 1000)]))
        }
        rekey(from: source, to: destination, prefix: true)
    }

    /// Inodes the kernel holds keep their numbers across a rename: bind them to the new keys.
    func rekey(from old: String, to new: String, prefix: Bool) {
        state.withLock { s in
            s.table.rekey { key in
                if prefix { return key.hasBytePrefix(old) ? new + key.droppingBytePrefix(old) : nil }
                return key.bytesEqual(old) ? new : nil
            }
            s.table.dropForgotten(old, prefix: prefix)
            s.table.dropForgotten(new, prefix: prefix)
            s.negative[new] = nil
            s.listAhead.forgetAll()
        }
    }

    public func symlink(target: String, parent: InodeNumber, name: String) async throws(VFSError) -> Entry {
        let (dir, key) = try self.target(parent, name)
        let targetKey = Self.targetKey(target, linkDirectory: dir.key)
        try Self.validKey(targetKey)  // the target is a key too
        let result = try await creatingEntry(in: dir, locking: [key]) { () async throws(VFSError) -> WriteResult in
            if (try? await child(parent, name)) != nil { throw .exists }
            do {
                return try await client.putSymlink(key, target: targetKey, options: writeOptions(key: "", mode: 0o777))
            } catch {
                throw VFSError(error)
            }
        }
        // Not looked up again: HEAD follows the link, and its target need not exist.
        unhide(key)
        touchDirectory(dir.ino)
        return entry(remember(fileKey: key, info: ObjectInfo(key: key, size: UInt64(target.utf8.count), etag: result.etag,
                                                             lastModified: wallTimestamp(), type: .symlink),
                              lookups: 1))
    }

    /// A relative link target resolved against the link's directory into a key; an absolute
    /// path (outside the mount) is kept as written.
    static func targetKey(_ target: String, linkDirectory: String) -> String {
        guard !target.hasPrefix("/") else { return target }
        var parts = linkDirectory.split(separator: "/").map(String.init)
        for p in target.split(separator: "/", omittingEmptySubsequences: true) {
            if p == "." { continue }
            // Above the bucket's root the ".." stays: the link's text points out of the mount.
            if p == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            parts.append(String(p))
        }
        return parts.joined(separator: "/")
    }
}
