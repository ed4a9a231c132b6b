// HeadObject, GetObject, PutObject and DeleteObject: the single-object requests.
import ObjectStore
import OSSCrypto

extension OSSClient {
    public func headObject(_ key: String, ifMatch: ETag?) async throws -> ObjectInfo {
        var op = OSSOperation(name: "HeadObject", method: "HEAD", key: key)
        if let ifMatch { op.headers.set("If-Match", ifMatch.value) }
        let response = try await perform(op)
        return try ResponseHeaders.objectInfo(key: key, response.headers)
    }

    public func getObject(_ key: String, range: ByteRange?, ifMatch: ETag?, into destination: ReadDestination)
        async throws -> GetResult
    {
        var op = OSSOperation(name: "GetObject", method: "GET", key: key)
        if let range {
            op.headers.set("Range", range.headerValue)
            // Without this OSS answers an out-of-range request with the whole object.
            op.headers.set("x-oss-range-behavior", "standard")
        }
        if let ifMatch { op.headers.set("If-Match", ifMatch.value) }
        let target: ResponseCollector.Target = switch destination {
        case .buffer(let b): .buffer(b)
        case .collect(let limit): .collect(limit: limit, expected: range.map { Int($0.count) })
        }
        // Only a whole-object body can be checked against the object's CRC-64.
        let whole = range == nil
        let verifyCRC = config.verifyCRC
        let response = try await perform(op, into: target, computeCRC: whole && verifyCRC) { r throws(ObjectStoreError) in
            guard whole else { return }
            let info = try ResponseHeaders.objectInfo(key: key, r.headers)
            guard UInt64(r.bytesRead) == info.size else {
                throw .invalidResponse("GetObject \(key): \(r.bytesRead) of \(info.size) bytes")
            }
            try ResponseHeaders.verify(key: key, server: info.crc64, local: r.bodyCRC, enabled: verifyCRC)
        }
        let info = try ResponseHeaders.objectInfo(key: key, response.headers)
        let body: [UInt8]? = if case .collect = destination { response.body } else { nil }
        return GetResult(info: info, bytesRead: response.bytesRead, body: body)
    }

    public func putObject(_ key: String, body: UploadBody, options: WriteOptions) async throws -> WriteResult {
        var op = OSSOperation(name: "PutObject", method: "PUT", key: key, body: body)
        ResponseHeaders.apply(options, to: &op.headers)
        let localCRC = body.withUnsafeBytes { CRC64.checksum($0) }
        let response = try await perform(op, validate: verifier(key, localCRC))
        let crc = ResponseHeaders.crc64(response.headers)
        return WriteResult(etag: try ResponseHeaders.etag(response.headers), crc64: crc ?? localCRC)
    }

    /// A `perform` validator comparing the answer's x-oss-hash-crc64ecma with `local`.
    func verifier(_ key: String, _ local: UInt64) -> (OSSResponse) throws(ObjectStoreError) -> Void {
        let enabled = config.verifyCRC
        return { r throws(ObjectStoreError) in
            try ResponseHeaders.verify(key: key, server: ResponseHeaders.crc64(r.headers), local: local, enabled: enabled)
        }
    }

    public func deleteObject(_ key: String) async throws {
        _ = try await perform(OSSOperation(name: "DeleteObject", method: "DELETE", key: key))
    }
}
