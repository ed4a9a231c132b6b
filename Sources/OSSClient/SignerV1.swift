// Signature V1 (`Authorization: OSS AK:base64(HMAC-SHA1(SK, StringToSign))`) in
// header and presigned-URL form, as docs/oss-api.md §1 lays it out.
import OSSCrypto

public enum SignerV1 {
    /// Query parameters that take part in the CanonicalizedResource (the union of the
    /// official SDKs' lists that matters to a filesystem client, plus every `x-oss-*`).
    static let subresources: Set<String> = [
        "acl", "bucketInfo", "location", "stat", "delete", "append", "tagging", "objectMeta", "uploads", "uploadId",
        "partNumber", "security-token", "position", "response-content-type", "response-content-language",
        "response-expires", "response-cache-control", "response-content-disposition", "response-content-encoding",
        "restore", "callback", "callback-var", "versions", "versioning", "versionId", "sequential",
        "continuation-token", "regionList", "symlink", "cloudboxes", "resourceGroup", "logging", "cors",
        "lifecycle", "referer", "website", "qos", "objectInfo", "encryption", "policy", "worm", "inventory",
    ]

    static func isSubresource(_ name: String) -> Bool { subresources.contains(name) || name.hasPrefix("x-oss-") }

    public static func canonicalResource(_ request: SigningRequest, extra: [QueryItem] = []) -> String {
        var resource = "/"
        if let bucket = request.bucket { resource += bucket + "/" + request.key }
        let params = (request.query + extra).filter { isSubresource($0.name) }.sorted { byteOrder($0.name, $1.name) }
        if !params.isEmpty {
            resource += "?" + params.map { p in
                if let v = p.value, !v.isEmpty { return p.name + "=" + v }
                return p.name
            }.joined(separator: "&")
        }
        return resource
    }

    /// `dateSlot` is the Date header (x-oss-date when present) or, presigned, the expiry.
    public static func stringToSign(_ request: SigningRequest, dateSlot: String, extra: [QueryItem] = []) -> String {
        let ossHeaders = canonicalHeaders(request.headers) { $0.hasPrefix("x-oss-") }
        var s = request.method.uppercased() + "\n"
        s += (request.headers["Content-MD5"] ?? "") + "\n"
        s += (request.headers["Content-Type"] ?? "") + "\n"
        s += dateSlot + "\n"
        for (n, v) in ossHeaders { s += n + ":" + v + "\n" }
        return s + canonicalResource(request, extra: extra)
    }

    public static func signature(_ stringToSign: String, secret: Secret) -> String {
        Base64.encode(HMAC.sha1(key: Array(secret.reveal().utf8), data: Array(stringToSign.utf8)))
    }

    /// The Authorization value for a request whose headers are final (Date or x-oss-date
    /// set, token header set when using STS).
    public static func authorization(_ request: SigningRequest, credentials: Credentials) -> String {
        let date = request.headers["x-oss-date"] ?? request.headers["Date"] ?? ""
        let sts = stringToSign(request, dateSlot: date)
        return "OSS \(credentials.accessKeyId):\(signature(sts, secret: credentials.accessKeySecret))"
    }

    /// Adds Date and the STS token header, then Authorization.
    public static func sign(_ request: inout SigningRequest, credentials: Credentials, time: SigningTime) {
        request.headers.set("Date", time.rfc1123)
        if let token = credentials.securityToken { request.headers.set("x-oss-security-token", token.reveal()) }
        request.headers.set("Authorization", authorization(request, credentials: credentials))
    }

    /// Query items to append to the URL of a presigned request (valid until `expires`,
    /// Unix seconds), in the order of `style`. The request's own query stays in front.
    public static func presignQuery(_ request: SigningRequest, credentials: Credentials, expires: Int64,
                                    style: WireStyle = .standard) -> (items: [QueryItem], stringToSign: String) {
        let token = credentials.securityToken.map { QueryItem("security-token", $0.reveal()) }
        let sts = stringToSign(request, dateSlot: String(expires), extra: token.map { [$0] } ?? [])
        let id = QueryItem("OSSAccessKeyId", credentials.accessKeyId)
        let exp = QueryItem("Expires", String(expires))
        let sig = QueryItem("Signature", signature(sts, secret: credentials.accessKeySecret))
        let items: [QueryItem] = switch style {
        case .standard: [id, exp] + (token.map { [$0] } ?? []) + [sig]
        case .oss2: (token.map { [$0] } ?? []) + [id, exp, sig]
        }
        return (items, sts)
    }
}
