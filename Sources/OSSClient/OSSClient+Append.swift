// AppendObject. An append is not idempotent: if the answer is lost, the bytes may
// already be there, and sending them again would fail (position moved) or, worse,
// succeed twice. So a failed try is retried only after a HEAD shows where the
// object stands: still at `position` → send again; at `position + count` with
// the expected CRC → it landed, report success; anywhere else → give up.
import ObjectStore
import OSSCrypto

extension OSSClient {
    public func appendObject(_ key: String, position: UInt64, body: UploadBody, options: WriteOptions,
                             previousCRC: UInt64?) async throws -> AppendResult
    {
        var op = OSSOperation(name: "AppendObject", method: "POST", key: key,
                              query: [QueryItem("append"), QueryItem("position", String(position))], body: body)
        if position == 0 { ResponseHeaders.apply(options, to: &op.headers) }
        let bodyCRC = body.withUnsafeBytes { CRC64.checksum($0) }
        let count = UInt64(body.count)
        let expectedCRC: UInt64? = position == 0 ? bodyCRC : previousCRC.map { CRC64.combine($0, bodyCRC, count) }

        var attempt = 0
        let started = clock.now()
        while true {
            attempt += 1
            do {
                let response = try await perform(op, retry: .never)
                let next = response.headers["x-oss-next-append-position"].flatMap { UInt64($0) } ?? position + count
                let crc = ResponseHeaders.crc64(response.headers)
                if let expectedCRC {
                    try ResponseHeaders.verify(key: key, server: crc, local: expectedCRC, enabled: config.verifyCRC)
                }
                return AppendResult(nextPosition: next, crc64: crc, etag: try ResponseHeaders.etag(response.headers))
            } catch let error {
                let delay = config.retry.delay(afterAttempt: attempt, unit: clock.random())
                guard RetryPolicy.isRetryable(error), attempt < config.retry.maxAttempts,
                    Duration.seconds(clock.now() - started) + delay < config.retry.maxElapsed
                else { throw error }
                try await clock.sleep(delay)
                // Where does the object stand now?
                let info: ObjectInfo
                do {
                    info = try await headObject(key, ifMatch: nil)
                } catch let e as ObjectStoreError where e.code == "NoSuchKey" && position == 0 {
                    continue  // nothing landed; send again
                }
                if info.size == position { continue }
                if info.size == position + count, info.type == .appendable,
                    expectedCRC == nil || info.crc64 == nil || info.crc64 == expectedCRC
                {
                    logger.notice("append landed despite a failed answer", metadata: ["key": "\(key)"])
                    return AppendResult(nextPosition: info.size, crc64: info.crc64, etag: info.etag)
                }
                throw error
            }
        }
    }
}
