// ListObjectsV2. Keys come back URL-encoded (`encoding-type=url`) so that names
// with control characters survive XML; they are decoded here.
import ObjectStore

extension OSSClient {
    public func listObjects(_ request: ListRequest) async throws -> ListPage {
        var query = [QueryItem("list-type", "2"), QueryItem("prefix", request.prefix),
                     QueryItem("max-keys", String(request.maxKeys)), QueryItem("encoding-type", "url")]
        if let d = request.delimiter { query.append(QueryItem("delimiter", d)) }
        if let t = request.continuationToken { query.append(QueryItem("continuation-token", t)) }
        if let s = request.startAfter { query.append(QueryItem("start-after", s)) }
        let response = try await perform(OSSOperation(name: "ListObjectsV2", method: "GET", key: nil, query: query))
        return try ListDecoding.page(response.body)
    }
}

enum ListDecoding {
    static func document(_ body: [UInt8], root: String) throws(ObjectStoreError) -> XMLNode {
        guard let xml = XMLNode.parse(body), xml.name == root else {
            throw .invalidResponse("expected a <\(root)> document")
        }
        return xml
    }

    static func page(_ body: [UInt8]) throws(ObjectStoreError) -> ListPage {
        let xml = try document(body, root: "ListBucketResult")
        let encoded = xml.text("EncodingType") == "url"
        func name(_ s: String) -> String { encoded ? URIEncoding.decode(s) : s }
        var page = ListPage()
        for c in xml.all("Contents") {
            guard let key = c.text("Key") else { throw .invalidResponse("<Contents> without <Key>") }
            page.objects.append(ObjectSummary(
                key: name(key), size: c.text("Size").flatMap { UInt64($0) } ?? 0, etag: ETag(c.text("ETag") ?? ""),
                lastModified: c.text("LastModified").flatMap(HTTPDate.parseISO8601),
                type: c.text("Type").flatMap(ObjectType.init(rawValue:)) ?? .normal,
                storageClass: c.text("StorageClass")))
        }
        page.commonPrefixes = xml.all("CommonPrefixes").compactMap { $0.text("Prefix").map(name) }
        page.isTruncated = xml.text("IsTruncated") == "true"
        page.nextContinuationToken = xml.text("NextContinuationToken").flatMap { $0.isEmpty ? nil : $0 }
        return page
    }
}
