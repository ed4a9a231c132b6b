// ListParts and ListMultipartUploads: what `ossmount uploads list|abort` shows
// and cleans, and how an interrupted upload is resumed.
import ObjectStore

extension OSSClient {
    public func listParts(_ key: String, uploadId: String, partNumberMarker: Int?, maxParts: Int) async throws
        -> PartsPage
    {
        var query = [QueryItem("uploadId", uploadId), QueryItem("max-parts", String(maxParts))]
        if let m = partNumberMarker { query.append(QueryItem("part-number-marker", String(m))) }
        let response = try await perform(OSSOperation(name: "ListParts", method: "GET", key: key, query: query))
        let doc = try ListDecoding.document(response.body, root: "ListPartsResult")
        let parts = doc.all("Part").compactMap { p -> PartInfo? in
            guard let n = p.text("PartNumber").flatMap({ Int($0) }), let etag = p.text("ETag") else { return nil }
            return PartInfo(number: n, etag: ETag(etag), size: p.text("Size").flatMap { UInt64($0) },
                            crc64: p.text("HashCrc64ecma").flatMap { UInt64($0) })
        }
        return PartsPage(parts: parts, isTruncated: doc.text("IsTruncated") == "true",
                         nextPartNumberMarker: doc.text("NextPartNumberMarker").flatMap { Int($0) })
    }

    public func listMultipartUploads(prefix: String, keyMarker: String?, uploadIdMarker: String?, maxUploads: Int)
        async throws -> UploadsPage
    {
        var query = [QueryItem("uploads"), QueryItem("prefix", prefix), QueryItem("max-uploads", String(maxUploads)),
                     QueryItem("encoding-type", "url")]
        if let k = keyMarker { query.append(QueryItem("key-marker", k)) }
        if let u = uploadIdMarker { query.append(QueryItem("upload-id-marker", u)) }
        let response = try await perform(
            OSSOperation(name: "ListMultipartUploads", method: "GET", key: nil, query: query))
        let doc = try ListDecoding.document(response.body, root: "ListMultipartUploadsResult")
        let encoded = doc.text("EncodingType") == "url"
        func name(_ s: String) -> String { encoded ? URIEncoding.decode(s) : s }
        let uploads = doc.all("Upload").compactMap { u -> UploadSummary? in
            guard let key = u.text("Key"), let id = u.text("UploadId") else { return nil }
            return UploadSummary(key: name(key), uploadId: id,
                                 initiated: u.text("Initiated").flatMap(HTTPDate.parseISO8601))
        }
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        return UploadsPage(uploads: uploads, isTruncated: doc.text("IsTruncated") == "true",
                           nextKeyMarker: nonEmpty(doc.text("NextKeyMarker")).map(name),
                           nextUploadIdMarker: nonEmpty(doc.text("NextUploadIdMarker")))
    }
}
