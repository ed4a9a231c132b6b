// Single-object operations, listing and symlinks of InMemoryObjectStore.
import ObjectStore
import OSSCrypto

extension InMemoryObjectStore {
    public func headObject(_ key: String, ifMatch: ETag?) async throws -> ObjectInfo {
        try state.withLock { s throws(ObjectStoreError) in
            let (o, link) = try Self.resolve(s, key)
            let info = Self.info(key, o, link: link)
            if let ifMatch, ifMatch != info.etag { throw Self.error(412, "PreconditionFailed") }
            return info
        }
    }

    public func getObject(_ key: String, range: ByteRange?, ifMatch: ETag?, into destination: ReadDestination)
        async throws -> GetResult
    {
        let (info, slice) = try state.withLock { s throws(ObjectStoreError) -> (ObjectInfo, ArraySlice<UInt8>) in
            let (o, link) = try Self.resolve(s, key)
            let info = Self.info(key, o, link: link)
            if let ifMatch, ifMatch != info.etag { throw Self.error(412, "PreconditionFailed") }
            guard let range else { return (info, o.data[...]) }
            guard range.lowerBound < UInt64(o.data.count) else { throw Self.error(416, "InvalidRange") }
            let end = Int(min(range.upperBound, UInt64(o.data.count)))
            return (info, o.data[Int(range.lowerBound)..<end])
        }
        switch destination {
        case .buffer(let b):
            guard slice.count <= b.pointer.count else {
                throw ObjectStoreError.invalidResponse("GetObject \(key): body larger than the buffer")
            }
            slice.withUnsafeBytes { b.pointer.copyMemory(from: $0) }
            return GetResult(info: info, bytesRead: slice.count, body: nil)
        case .collect(let limit):
            guard slice.count <= limit else {
                throw ObjectStoreError.invalidResponse("GetObject \(key): body larger than the buffer")
            }
            return GetResult(info: info, bytesRead: slice.count, body: Array(slice))
        }
    }

    /// As the HTTP client's: the GET runs apart (a Task stands in for the transport's I/O
    /// thread) and `completion` is called from there.
    public func startGetObject(_ key: String, range: ByteRange?, ifMatch: ETag?, into buffer: MutableBytes,
                               completion: @escaping @Sendable (Result<GetResult, ObjectStoreError>) -> Void)
        -> (@Sendable () -> Void)?
    {
        let run: @Sendable () -> Void = {
            Task {
                do {
                    completion(.success(try await self.getObject(key, range: range, ifMatch: ifMatch, into: .buffer(buffer))))
                } catch {
                    completion(.failure(error as? ObjectStoreError ?? .invalidResponse("\(error)")))
                }
            }
        }
        let held = heldGets.withLock { h in
            if h.holding { h.waiting.append(run) }
            return h.holding
        }
        if !held { run() }
        return {}
    }

    /// While on, GETs started by `startGetObject` wait; turned off, they go on (tests of
    /// what answers a read whose bytes are on their way).
    public func holdStartedGets(_ on: Bool) {
        let go = heldGets.withLock { h in
            defer { h = (on, on ? h.waiting : []) }
            return on ? [] : h.waiting
        }
        for run in go { run() }
    }

    public var heldGetCount: Int { heldGets.withLock { $0.waiting.count } }

    public func putObject(_ key: String, body: UploadBody, options: WriteOptions) async throws -> WriteResult {
        let data = body.withUnsafeBytes { Array($0) }
        let object = newObject(data, type: .normal, options: options)
        return try state.withLock { s throws(ObjectStoreError) in
            if options.forbidOverwrite && s.objects[key] != nil { throw Self.error(409, "FileAlreadyExists") }
            Self.store(&s, key, object)
            return WriteResult(etag: object.etag, crc64: object.crc64)
        }
    }

    public func appendObject(_ key: String, position: UInt64, body: UploadBody, options: WriteOptions,
                             previousCRC: UInt64?) async throws -> AppendResult
    {
        let data = body.withUnsafeBytes { Array($0) }
        return try state.withLock { s throws(ObjectStoreError) in
            var o: StoredObject
            if let existing = s.objects[key] {
                guard existing.type == .appendable else { throw Self.error(409, "ObjectNotAppendable") }
                o = existing
            } else {
                o = newObject([], type: .appendable, options: options)
            }
            guard position == UInt64(o.data.count) else { throw Self.error(409, "PositionNotEqualToLength") }
            o.data += data
            o.crc64 = CRC64.combine(o.crc64, CRC64.checksum(data), UInt64(data.count))
            s.nextId += 1
            o.etag = ETag("\"APPEND-\(s.nextId)\"")
            o.lastModified = now()
            Self.store(&s, key, o)
            return AppendResult(nextPosition: UInt64(o.data.count), crc64: o.crc64, etag: o.etag)
        }
    }

    public func listObjects(_ request: ListRequest) async throws -> ListPage {
        guard (1...1000).contains(request.maxKeys) else { throw Self.error(400, "InvalidArgument", "max-keys") }
        return state.withLock { s in
            var page = ListPage()
            // Tokens are "K<key>" (continue after that key) or "P<prefix>" (after everything under it).
            let token = request.continuationToken
            let skipPrefix = token.flatMap { $0.hasPrefix("P") ? String($0.dropFirst()) : nil }
            let tokenKey = token.map { String($0.dropFirst()) }
            let after = [tokenKey, request.startAfter].compactMap { $0 }.max(by: Self.byteOrder)
            let start = [request.prefix, after ?? ""].max(by: Self.byteOrder)!
            var i = Self.insertionIndex(s.sortedKeys, start)
            var count = 0
            while i < s.sortedKeys.count {
                let key = s.sortedKeys[i]
                i += 1
                if let after, !Self.byteOrder(after, key) { continue }
                if let skipPrefix, key.hasPrefix(skipPrefix) { continue }
                guard key.hasPrefix(request.prefix) else { break }
                if count == request.maxKeys {
                    page.isTruncated = true
                    break
                }
                let rest = key.dropFirst(request.prefix.count)
                if let d = request.delimiter, !d.isEmpty, let r = rest.firstRange(of: d) {
                    let common = request.prefix + rest[..<r.upperBound]
                    page.commonPrefixes.append(common)
                    page.nextContinuationToken = "P" + common
                    count += 1
                    // Skip every key under this common prefix.
                    while i < s.sortedKeys.count && s.sortedKeys[i].hasPrefix(common) { i += 1 }
                    continue
                }
                let o = s.objects[key]!
                page.objects.append(ObjectSummary(key: key, size: UInt64(o.data.count), etag: o.etag,
                                                  lastModified: o.lastModified, type: o.type, storageClass: "Standard"))
                page.nextContinuationToken = "K" + key
                count += 1
            }
            if !page.isTruncated { page.nextContinuationToken = nil }
            return page
        }
    }

    public func deleteObject(_ key: String) async throws {
        state.withLock { Self.remove(&$0, key) }
    }

    public func deleteObjects(_ keys: [String]) async throws -> [String] {
        guard keys.count <= 1000 else { throw Self.error(400, "MalformedXML", "more than 1000 keys") }
        state.withLock { s in for k in keys { Self.remove(&s, k) } }
        return keys
    }

    public func copyObject(from source: String, to destination: String, directive: MetadataDirective,
                           sourceIfMatch: ETag?) async throws -> WriteResult
    {
        try state.withLock { s throws(ObjectStoreError) in
            guard let src = s.objects[source] else { throw Self.error(404, "NoSuchKey") }
            if let sourceIfMatch, sourceIfMatch != src.etag { throw Self.error(412, "PreconditionFailed") }
            guard src.type != .appendable else {
                throw Self.error(400, "InvalidArgument", "an Appendable object cannot be copied")
            }
            var copy = src
            if case .replace(let options) = directive {
                copy.contentType = options.contentType ?? src.contentType
                copy.userMetadata = options.userMetadata
            }
            if src.type != .symlink { copy.type = .normal }
            copy.lastModified = now()
            s.nextId += 1
            if copy.type == .normal { copy.etag = Self.md5ETag(copy.data) }
            if source == destination || copy.etag == src.etag { copy.etag = ETag("\"COPY-\(s.nextId)\"") }
            Self.store(&s, destination, copy)
            return WriteResult(etag: copy.etag, crc64: copy.crc64)
        }
    }

    public func putSymlink(_ key: String, target: String, options: WriteOptions) async throws -> WriteResult {
        var link = newObject([], type: .symlink, options: options)
        link.symlinkTarget = target
        return try state.withLock { s throws(ObjectStoreError) in
            if options.forbidOverwrite && s.objects[key] != nil { throw Self.error(409, "FileAlreadyExists") }
            s.nextId += 1
            link.etag = ETag("\"LINK-\(s.nextId)\"")
            Self.store(&s, key, link)
            return WriteResult(etag: link.etag, crc64: nil)
        }
    }

    public func getSymlink(_ key: String) async throws -> SymlinkInfo {
        try state.withLock { s throws(ObjectStoreError) in
            guard let o = s.objects[key] else { throw Self.error(404, "NoSuchKey") }
            guard o.type == .symlink, let target = o.symlinkTarget else { throw Self.error(400, "NotSymlink") }
            return SymlinkInfo(target: target, etag: o.etag, lastModified: o.lastModified, userMetadata: o.userMetadata)
        }
    }
}
