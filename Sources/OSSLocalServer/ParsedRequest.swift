// A request as osslocal understands it: which bucket and key it addresses
// (path style `/bucket/key`, or virtual-hosted `bucket.<domain>`), its decoded
// query in order, and its headers.
import OSSClient

struct ParsedRequest: Sendable {
    var method: String
    var uri: String
    /// nil for service-level requests (`GET /`).
    var bucket: String?
    /// Decoded key; "" for bucket-level requests.
    var key: String
    var query: [QueryItem]
    var headers: [(name: String, value: String)]
    /// The client speaks S3 (x-amz-* headers or AWS authorization): answer with S3 names too.
    var s3Dialect: Bool

    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    func queryValue(_ name: String) -> String? { query.first { $0.name == name }.map { $0.value ?? "" } }
    func has(_ name: String) -> Bool { query.contains { $0.name == name } }

    /// User metadata sent with the request (`x-oss-meta-*`, and `x-amz-meta-*` from S3 clients).
    var userMetadata: [String: String] {
        var meta: [String: String] = [:]
        for h in headers {
            let lower = h.name.lowercased()
            for prefix in ["x-oss-meta-", "x-amz-meta-"] where lower.hasPrefix(prefix) {
                meta[String(lower.dropFirst(prefix.count))] = h.value
            }
        }
        return meta
    }

    /// The header under its OSS name, or its S3 name from S3 clients.
    func ossHeader(_ suffix: String) -> String? { header("x-oss-" + suffix) ?? header("x-amz-" + suffix) }

    static func parse(method: String, uri: String, headers: [(name: String, value: String)], domain: String)
        -> ParsedRequest
    {
        let split = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = URIEncoding.decode(split[0])
        var query: [QueryItem] = []
        if split.count > 1 {
            for item in split[1].split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = URIEncoding.decode(kv[0], plusAsSpace: true)
                query.append(QueryItem(name, kv.count > 1 ? URIEncoding.decode(kv[1], plusAsSpace: true) : nil))
            }
        }
        let host = headers.first { $0.name.lowercased() == "host" }?.value ?? ""
        let hostName = host.split(separator: ":").first.map(String.init) ?? ""
        var bucket: String?
        var key = ""
        if hostName.hasSuffix("." + domain), hostName.count > domain.count + 1 {
            bucket = String(hostName.dropLast(domain.count + 1))
            key = String(path.dropFirst())
        } else {
            let rest = path.dropFirst()
            if let slash = rest.firstIndex(of: "/") {
                bucket = String(rest[..<slash])
                key = String(rest[rest.index(after: slash)...])
            } else if !rest.isEmpty {
                bucket = String(rest)
            }
        }
        let s3 = headers.contains { h in
            let n = h.name.lowercased()
            return n.hasPrefix("x-amz-") || (n == "authorization" && h.value.hasPrefix("AWS"))
        }
        return ParsedRequest(method: method, uri: uri, bucket: bucket, key: key, query: query, headers: headers,
                             s3Dialect: s3)
    }
}

/// An error answer, as OSS writes it.
struct OSSError: Error, Sendable {
    var status: Int
    var code: String
    var message: String
    var ec: String
    /// Extra elements (StringToSign, CanonicalRequest) and headers.
    var details: [(String, String)] = []
    var headers: [(String, String)] = []

    init(_ status: Int, _ code: String, _ message: String, ec: String = "0000-00000000",
         details: [(String, String)] = [], headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.ec = ec
        self.details = details
        self.headers = headers
    }

    static func noSuchKey() -> OSSError { OSSError(404, "NoSuchKey", "The specified key does not exist.", ec: "0026-00000001") }
    static func noSuchBucket() -> OSSError { OSSError(404, "NoSuchBucket", "The specified bucket does not exist.", ec: "0015-00000101") }
    static func noSuchUpload() -> OSSError {
        OSSError(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", ec: "0042-00000002")
    }
    static func invalidArgument(_ message: String) -> OSSError { OSSError(400, "InvalidArgument", message, ec: "0017-00000001") }
    static func internalError(_ message: String) -> OSSError { OSSError(500, "InternalError", message, ec: "0000-00000001") }
}
