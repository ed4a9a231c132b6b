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
        let get = GetOperation(key: key, range: range, ifMatch: ifMatch, into: destination, verifyCRC: config.verifyCRC)
        var result: GetResult?
        _ = try await perform(get.op, into: get.target, computeCRC: get.computeCRC) { r throws(ObjectStoreError) in
            result = try get.check(r)
        }
        return result!  // set by the try that succeeded
    }

    /// One try of a GET into `buffer` without a Task, signed now in the caller's thread with
    /// the credentials at hand; `completion` runs on the transport's thread. No retry: on a
    /// failure the caller goes on with `getObject`. nil: not started (no credentials at
    /// hand, or a transport without that path).
    public func startGetObject(_ key: String, range: ByteRange?, ifMatch: ETag?, into buffer: MutableBytes,
                               completion: @escaping @Sendable (Result<GetResult, ObjectStoreError>) -> Void)
        -> (@Sendable () -> Void)?
    {
        guard let creds = credentials.credentialsNow() else { return nil }
        let get = GetOperation(key: key, range: range, ifMatch: ifMatch, into: .buffer(buffer), verifyCRC: config.verifyCRC)
        let sink = ResponseCollector(target: get.target, computeCRC: get.computeCRC)
        let start = clock.now()
        return transport.start(signed(get.op, with: creds), sink: sink) { [self] outcome in
            completion(Result { () throws(ObjectStoreError) -> GetResult in
                try get.check(try conclude(get.op, outcome, sink: sink, since: start).get())
            })
        }
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

/// GetObject as sent and checked, shared by `getObject` and `startGetObject`.
struct GetOperation: Sendable {
    let op: OSSOperation
    let target: ResponseCollector.Target
    let key: String
    /// Only a whole-object body can be checked against the object's CRC-64.
    let whole: Bool
    let verifyCRC: Bool
    let collects: Bool

    init(key: String, range: ByteRange?, ifMatch: ETag?, into destination: ReadDestination, verifyCRC: Bool) {
        var op = OSSOperation(name: "GetObject", method: "GET", key: key)
        if let range {
            op.headers.set("Range", range.headerValue)
            // Without this OSS answers an out-of-range request with the whole object.
            op.headers.set("x-oss-range-behavior", "standard")
        }
        if let ifMatch { op.headers.set("If-Match", ifMatch.value) }
        self.op = op
        switch destination {
        case .buffer(let b):
            target = .buffer(b)
            collects = false
        case .collect(let limit):
            target = .collect(limit: limit, expected: range.map { Int($0.count) })
            collects = true
        }
        self.key = key
        whole = range == nil
        self.verifyCRC = verifyCRC
    }

    var computeCRC: Bool { whole && verifyCRC }

    /// Each try's check (a whole body has the object's size and CRC-64) and its result.
    func check(_ r: OSSResponse) throws(ObjectStoreError) -> GetResult {
        let info = try ResponseHeaders.objectInfo(key: key, r.headers)
        if whole {
            guard UInt64(r.bytesRead) == info.size else {
                throw .invalidResponse("GetObject \(key): \(r.bytesRead) of \(info.size) bytes")
            }
            try ResponseHeaders.verify(key: key, server: info.crc64, local: r.bodyCRC, enabled: verifyCRC)
        }
        return GetResult(info: info, bytesRead: r.bytesRead, body: collects ? r.body : nil)
    }
}
