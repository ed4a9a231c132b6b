// CopyObject: server-side copy within the bucket, keeping (COPY) or replacing
// (REPLACE) the metadata. The ossmount write path uses REPLACE to persist
// chmod/chown/utimens, and COPY for rename below the 1 GB single-copy limit.
import ObjectStore

extension OSSClient {
    func copySourceHeader(_ source: String) -> String {
        "/" + config.bucket + "/" + URIEncoding.encode(source, keepSlash: true)
    }

    public func copyObject(from source: String, to destination: String, directive: MetadataDirective,
                           sourceIfMatch: ETag?) async throws -> WriteResult
    {
        var op = OSSOperation(name: "CopyObject", method: "PUT", key: destination)
        op.headers.set("x-oss-copy-source", copySourceHeader(source))
        if let sourceIfMatch { op.headers.set("x-oss-copy-source-if-match", sourceIfMatch.value) }
        switch directive {
        case .copy:
            op.headers.set("x-oss-metadata-directive", "COPY")
        case .replace(let options):
            op.headers.set("x-oss-metadata-directive", "REPLACE")
            ResponseHeaders.apply(options, to: &op.headers)
        }
        let response = try await perform(op)
        let doc = try ListDecoding.document(response.body, root: "CopyObjectResult")
        guard let etag = doc.text("ETag") else { throw ObjectStoreError.invalidResponse("CopyObject: no ETag") }
        return WriteResult(etag: ETag(etag), crc64: ResponseHeaders.crc64(response.headers))
    }
}
