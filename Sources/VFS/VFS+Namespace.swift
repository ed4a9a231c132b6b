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
        let id = try await client.initiateMultipartUpload(destination, options: options)
        do {
            var parts: [PartInfo] = []
            for start in stride(from: UInt64(0), to: info.size, by: Int(chunk)) {
                let bytes = try await client.getBytes(info.key, range: ByteRange(start, min(info.size, start + chunk)),
                                                      ifMatch: info.etag)
                parts.append(try await client.uploadPart(destination, uploadId: id, partNumber: parts.count + 1,
                                                         body: UploadBody(bytes)))
            }
            _ = try await client.completeMultipartUpload(destination, uploadId: id, parts: parts)
        } catch {
            try? await client.abortMultipartUpload(destination, uploadId: id)
            throw error
        }
    }

    func copyObject(_ source: String, to destination: String) async throws {
        let info = try await client.headObject(source, ifMatch: nil)
        if info.type == .appendable { return try await rewriteAppendable(info, to: destination) }
        if info.size <= Self.singleCopyLimit || info.type == .symlink {
            if info.type == .symlink {
                let link = try await client.getSymlink(source)
                _ = try await client.putSymlink(destination, target: link.target,
                                                options: WriteOptions(userMetadata: link.userMetadata))
            } else {
                _ = try await client.copyObject(from: source, to: destination, directive: .copy, sourceIfMatch: info.etag)
            }
            return
        }
        let id = try await client.initiateMultipartUpload(
            destination, options: WriteOptions(contentType: info.contentType, userMetadata: info.userMetadata))
        do {
            let ranges = stride(from: UInt64(0), to: info.size, by: Int(Self.copyPartSize)).map {
                ByteRange($0, min(info.size, $0 + Self.copyPartSize))
            }
            var parts: [PartInfo] = []
            try await withThrowingTaskGroup(of: PartInfo.self) { group in
                for (i, range) in ranges.enumerated() {
                    if i >= Self.copyConcurrency, let done = try await group.next() { parts.append(done) }
                    group.addTask {
                        try await self.client.uploadPartCopy(destination, uploadId: id, partNumber: i + 1, source: source,
                                                             range: range, sourceIfMatch: info.etag)
                    }
                }
                for try await done in group { parts.append(done) }
            }
            _ = try await client.completeMultipartUpload(destination, uploadId: id, parts: parts.sorted { $0.number < $1.number })
        } catch {
            try? await client.abortMultipartUpload(destination, uploadId: id)
            throw error
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
        let (_, key, isDirectory) = try await child(parent, name)
        let (_, destination) = try target(newParent, newName)
        let existing = try? await child(newParent, newName)
        if let existing, noReplace || existing.key == key && existing.isDirectory == isDirectory {
            if noReplace { throw .exists }
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
                try await copyObject(key, to: destination)
                try await client.deleteObject(key)
                rekey(from: key, to: destination, prefix: false)
            }
        } catch let e as VFSError {
            throw e
        } catch {
            throw VFSError(error)
        }
    }

    func renameDirectory(_ source: String, to destination: String) async throws {
        let keys = try await allKeys(under: source)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, key) in keys.enumerated() {
                if i >= 16 { try await group.next() }
                group.addTask { try await self.copyObject(key, to: destination + key.dropFirst(source.count)) }
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
                if prefix { return key.hasPrefix(old) ? new + key.dropFirst(old.count) : nil }
                return key == old ? new : nil
            }
            s.negative[new] = nil
            s.listAhead.forgetAll()
        }
    }

    public func symlink(target: String, parent: InodeNumber, name: String) async throws(VFSError) -> Entry {
        let (dir, key) = try self.target(parent, name)
        if (try? await child(parent, name)) != nil { throw .exists }
        let targetKey = Self.targetKey(target, linkDirectory: dir.key)
        do {
            _ = try await client.putSymlink(key, target: targetKey, options: writeOptions(mode: 0o777))
            let info = try await client.headObject(key, ifMatch: nil)
            return entry(remember(fileKey: key, info: ObjectInfo(key: key, size: UInt64(target.utf8.count), etag: info.etag,
                                                                 lastModified: info.lastModified, type: .symlink),
                                  lookups: 1))
        } catch {
            throw VFSError(error)
        }
    }

    /// A relative link target resolved against the link's directory into a key; an absolute
    /// path (outside the mount) is kept as written.
    static func targetKey(_ target: String, linkDirectory: String) -> String {
        guard !target.hasPrefix("/") else { return target }
        var parts = linkDirectory.split(separator: "/").map(String.init)
        for p in target.split(separator: "/", omittingEmptySubsequences: true) {
            if p == "." { continue }
            if p == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(String(p))
        }
        return parts.joined(separator: "/")
    }
}
