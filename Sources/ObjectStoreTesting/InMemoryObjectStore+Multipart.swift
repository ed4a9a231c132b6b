// Multipart uploads of InMemoryObjectStore, with OSS's rules at Complete:
// ascending part numbers, known parts with matching ETags, every part but the
// last at least 100 KiB.
import ObjectStore
import OSSCrypto

extension InMemoryObjectStore {
    public func initiateMultipartUpload(_ key: String, options: WriteOptions) async throws -> String {
        state.withLock { s in
            s.nextId += 1
            let id = "UPLOAD\(s.nextId)"
            s.uploads[id] = Upload(key: key, options: options, parts: [:], initiated: now())
            return id
        }
    }

    private func addPart(_ key: String, _ uploadId: String, _ partNumber: Int, _ data: [UInt8]) throws(ObjectStoreError)
        -> PartInfo
    {
        guard (1...10_000).contains(partNumber) else { throw Self.error(400, "InvalidArgument", "partNumber") }
        let etag = Self.md5ETag(data)
        try state.withLock { s throws(ObjectStoreError) in
            guard s.uploads[uploadId]?.key == key else { throw Self.error(404, "NoSuchUpload") }
            s.uploads[uploadId]!.parts[partNumber] = (data, etag)
        }
        return PartInfo(number: partNumber, etag: etag, size: UInt64(data.count), crc64: CRC64.checksum(data))
    }

    public func uploadPart(_ key: String, uploadId: String, partNumber: Int, body: UploadBody) async throws -> PartInfo {
        try addPart(key, uploadId, partNumber, body.withUnsafeBytes { Array($0) })
    }

    public func uploadPartCopy(_ key: String, uploadId: String, partNumber: Int, source: String, range: ByteRange?,
                               sourceIfMatch: ETag?) async throws -> PartInfo
    {
        let data = try state.withLock { s throws(ObjectStoreError) -> [UInt8] in
            guard let src = s.objects[source] else { throw Self.error(404, "NoSuchKey") }
            if let sourceIfMatch, sourceIfMatch != src.etag { throw Self.error(412, "PreconditionFailed") }
            guard let range else { return src.data }
            guard range.upperBound <= UInt64(src.data.count) else { throw Self.error(416, "InvalidRange") }
            return Array(src.data[Int(range.lowerBound)..<Int(range.upperBound)])
        }
        return try addPart(key, uploadId, partNumber, data)
    }

    public func completeMultipartUpload(_ key: String, uploadId: String, parts: [PartInfo]) async throws -> WriteResult {
        try state.withLock { s throws(ObjectStoreError) in
            guard let upload = s.uploads[uploadId], upload.key == key else { throw Self.error(404, "NoSuchUpload") }
            guard !parts.isEmpty else { throw Self.error(400, "MalformedXML") }
            guard zip(parts, parts.dropFirst()).allSatisfy({ $0.number < $1.number }) else {
                throw Self.error(400, "InvalidPartOrder")
            }
            var data: [UInt8] = []
            for (i, p) in parts.enumerated() {
                guard let stored = upload.parts[p.number], stored.etag == p.etag else { throw Self.error(400, "InvalidPart") }
                if i < parts.count - 1 && stored.data.count < Self.minimumPartSize {
                    throw Self.error(400, "EntityTooSmall")
                }
                data += stored.data
            }
            s.nextId += 1
            let etag = ETag("\"" + Hex.upper(Digest.md5(Array("\(s.nextId)".utf8))) + "-\(parts.count)\"")
            let object = newObject(data, type: .multipart, options: upload.options, etag: etag)
            if upload.options.forbidOverwrite && s.objects[key] != nil { throw Self.error(409, "FileAlreadyExists") }
            Self.store(&s, key, object)
            s.uploads[uploadId] = nil
            return WriteResult(etag: etag, crc64: object.crc64)
        }
    }

    public func abortMultipartUpload(_ key: String, uploadId: String) async throws {
        try state.withLock { s throws(ObjectStoreError) in
            guard s.uploads[uploadId]?.key == key else { throw Self.error(404, "NoSuchUpload") }
            s.uploads[uploadId] = nil
        }
    }

    public func listParts(_ key: String, uploadId: String, partNumberMarker: Int?, maxParts: Int) async throws
        -> PartsPage
    {
        try state.withLock { s throws(ObjectStoreError) in
            guard let upload = s.uploads[uploadId], upload.key == key else { throw Self.error(404, "NoSuchUpload") }
            let all = upload.parts.keys.sorted().filter { $0 > (partNumberMarker ?? 0) }
            let page = all.prefix(maxParts).map { n in
                let p = upload.parts[n]!
                return PartInfo(number: n, etag: p.etag, size: UInt64(p.data.count), crc64: CRC64.checksum(p.data))
            }
            let truncated = all.count > maxParts
            return PartsPage(parts: page, isTruncated: truncated, nextPartNumberMarker: truncated ? page.last?.number : nil)
        }
    }

    public func listMultipartUploads(prefix: String, keyMarker: String?, uploadIdMarker: String?, maxUploads: Int)
        async throws -> UploadsPage
    {
        state.withLock { s in
            let all = s.uploads.filter { $0.value.key.hasPrefix(prefix) }
                .map { UploadSummary(key: $0.value.key, uploadId: $0.key, initiated: $0.value.initiated) }
                .sorted { ($0.key, $0.uploadId) < ($1.key, $1.uploadId) }
                .filter { u in
                    guard let keyMarker else { return true }
                    return u.key > keyMarker || (u.key == keyMarker && u.uploadId > (uploadIdMarker ?? ""))
                }
            let page = Array(all.prefix(maxUploads))
            let truncated = all.count > maxUploads
            return UploadsPage(uploads: page, isTruncated: truncated, nextKeyMarker: truncated ? page.last?.key : nil,
                               nextUploadIdMarker: truncated ? page.last?.uploadId : nil)
        }
    }
}
