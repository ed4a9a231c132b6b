// Multipart upload: Initiate, UploadPart, UploadPartCopy, Complete, Abort.
// Each part's CRC-64 is checked as it is uploaded; Complete checks the object's
// CRC against the parts' CRCs combined, when every part's CRC is known.
import ObjectStore
import OSSCrypto

extension OSSClient {
    public func initiateMultipartUpload(_ key: String, options: WriteOptions) async throws -> String {
        var op = OSSOperation(name: "InitiateMultipartUpload", method: "POST", key: key, query: [QueryItem("uploads")])
        ResponseHeaders.apply(options, to: &op.headers)
        let response = try await perform(op)
        let doc = try ListDecoding.document(response.body, root: "InitiateMultipartUploadResult")
        guard let id = doc.text("UploadId"), !id.isEmpty else {
            throw ObjectStoreError.invalidResponse("InitiateMultipartUpload: no UploadId")
        }
        return id
    }

    static func partQuery(_ uploadId: String, _ partNumber: Int) -> [QueryItem] {
        [QueryItem("partNumber", String(partNumber)), QueryItem("uploadId", uploadId)]
    }

    public func uploadPart(_ key: String, uploadId: String, partNumber: Int, body: UploadBody) async throws -> PartInfo {
        let op = OSSOperation(name: "UploadPart", method: "PUT", key: key,
                              query: Self.partQuery(uploadId, partNumber), body: body)
        let localCRC = body.withUnsafeBytes { CRC64.checksum($0) }
        let response = try await perform(op, validate: verifier(key, localCRC))
        return PartInfo(number: partNumber, etag: try ResponseHeaders.etag(response.headers),
                        size: UInt64(body.count), crc64: localCRC)
    }

    public func uploadPartCopy(_ key: String, uploadId: String, partNumber: Int, source: String, range: ByteRange?,
                               sourceIfMatch: ETag?) async throws -> PartInfo
    {
        var op = OSSOperation(name: "UploadPartCopy", method: "PUT", key: key, query: Self.partQuery(uploadId, partNumber))
        op.headers.set("x-oss-copy-source", copySourceHeader(source))
        if let range { op.headers.set("x-oss-copy-source-range", range.headerValue) }
        if let sourceIfMatch { op.headers.set("x-oss-copy-source-if-match", sourceIfMatch.value) }
        let response = try await perform(op)
        let doc = try ListDecoding.document(response.body, root: "CopyPartResult")
        guard let etag = doc.text("ETag") else { throw ObjectStoreError.invalidResponse("UploadPartCopy: no ETag") }
        return PartInfo(number: partNumber, etag: ETag(etag), size: range?.count,
                        crc64: ResponseHeaders.crc64(response.headers))
    }

    public func completeMultipartUpload(_ key: String, uploadId: String, parts: [PartInfo]) async throws -> WriteResult {
        var xml = "<CompleteMultipartUpload>"
        for p in parts {
            xml += "<Part><PartNumber>\(p.number)</PartNumber><ETag>\(XMLNode.escape(p.etag.value))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        var op = OSSOperation(name: "CompleteMultipartUpload", method: "POST", key: key,
                              query: [QueryItem("uploadId", uploadId)], body: UploadBody(Array(xml.utf8)))
        op.headers.set("Content-Type", "application/xml")
        let response = try await perform(op)
        let crc = ResponseHeaders.crc64(response.headers)
        if parts.allSatisfy({ $0.crc64 != nil && $0.size != nil }) {
            var combined = CRC64()
            for p in parts { combined.append(crc: p.crc64!, length: p.size!) }
            try ResponseHeaders.verify(key: key, server: crc, local: combined.value, enabled: config.verifyCRC)
        }
        let doc = try ListDecoding.document(response.body, root: "CompleteMultipartUploadResult")
        guard let etag = doc.text("ETag") else { throw ObjectStoreError.invalidResponse("CompleteMultipartUpload: no ETag") }
        return WriteResult(etag: ETag(etag), crc64: crc)
    }

    public func abortMultipartUpload(_ key: String, uploadId: String) async throws {
        _ = try await perform(OSSOperation(name: "AbortMultipartUpload", method: "DELETE", key: key,
                                           query: [QueryItem("uploadId", uploadId)]))
    }
}
