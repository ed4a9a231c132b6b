// DeleteMultipleObjects: up to 1000 keys per POST /?delete, body MD5 required.
import ObjectStore
import OSSCrypto

extension OSSClient {
    /// The most keys one request may name.
    public static let deleteBatchLimit = 1000

    public func deleteObjects(_ keys: [String]) async throws -> [String] {
        precondition(keys.count <= Self.deleteBatchLimit, "at most \(Self.deleteBatchLimit) keys per request")
        guard !keys.isEmpty else { return [] }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>false</Quiet>"
        for k in keys { xml += "<Object><Key>\(XMLNode.escape(k))</Key></Object>" }
        xml += "</Delete>"
        let body = Array(xml.utf8)
        var op = OSSOperation(name: "DeleteMultipleObjects", method: "POST", key: nil,
                              query: [QueryItem("delete"), QueryItem("encoding-type", "url")], body: UploadBody(body))
        op.headers.set("Content-MD5", Base64.encode(Digest.md5(body)))
        op.headers.set("Content-Type", "application/xml")
        let response = try await perform(op)
        let doc = try ListDecoding.document(response.body, root: "DeleteResult")
        let encoded = doc.text("EncodingType") == "url"
        return doc.all("Deleted").compactMap { $0.text("Key") }.map { encoded ? URIEncoding.decode($0) : $0 }
    }
}
