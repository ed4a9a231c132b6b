// Signature V4 (`OSS4-HMAC-SHA256`) in header and presigned-URL form, as
// docs/oss-api.md §2 lays it out. The signing key depends only on the secret, the
// day and the region, so it is derived once per day and cached by the caller
// (`SigningKeyCache`), not per request.
import HTTPSeam
import OSSCrypto

public enum SignerV4 {
    public static let algorithm = "OSS4-HMAC-SHA256"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    public static func scope(day: String, region: String) -> String { "\(day)/\(region)/oss/aliyun_v4_request" }

    public static func canonicalURI(_ request: SigningRequest) -> String {
        guard let bucket = request.bucket else { return "/" }
        return URIEncoding.encode("/" + bucket + "/" + request.key, keepSlash: true)
    }

    public static func canonicalQuery(_ items: [QueryItem]) -> String {
        let encoded: [(name: String, value: String)] = items.map { item in
            (name: URIEncoding.encode(item.name), value: URIEncoding.encode(item.value ?? ""))
        }
        let sorted = encoded.sorted { a, b in a.name == b.name ? byteOrder(a.value, b.value) : byteOrder(a.name, b.name) }
        return sorted.map { p -> String in p.value.isEmpty ? p.name : p.name + "=" + p.value }.joined(separator: "&")
    }

    /// Lower-cased, sorted names of extra headers to sign, minus the ones always signed
    /// and the ones the request does not carry.
    static func additionalHeaderList(_ names: [String], _ headers: HTTPHeaders) -> [String] {
        Set(names.map { $0.lowercased() })
            .filter { !isDefaultSigned($0) && headers.contains($0) }
            .sorted(by: byteOrder)
    }

    static func isDefaultSigned(_ name: String) -> Bool {
        name.hasPrefix("x-oss-") || name == "content-type" || name == "content-md5"
    }

    public static func canonicalRequest(_ request: SigningRequest, extraQuery: [QueryItem] = [],
                                        additionalHeaders: [String] = []) -> String {
        let additional = additionalHeaderList(additionalHeaders, request.headers)
        let headers = canonicalHeaders(request.headers) { isDefaultSigned($0) || additional.contains($0) }
        var s = request.method.uppercased() + "\n"
        s += canonicalURI(request) + "\n"
        s += canonicalQuery(request.query + extraQuery) + "\n"
        for (n, v) in headers { s += n + ":" + v + "\n" }
        s += "\n" + additional.joined(separator: ";") + "\n"
        s += request.headers["x-oss-content-sha256"] ?? unsignedPayload
        return s
    }

    public static func stringToSign(canonicalRequest: String, dateTime: String, scope: String) -> String {
        algorithm + "\n" + dateTime + "\n" + scope + "\n" + Hex.lower(Digest.sha256(Array(canonicalRequest.utf8)))
    }

    public static func signingKey(secret: Secret, day: String, region: String) -> [UInt8] {
        var key = HMAC.sha256(key: Array(("aliyun_v4" + secret.reveal()).utf8), data: Array(day.utf8))
        for part in [region, "oss", "aliyun_v4_request"] { key = HMAC.sha256(key: key, data: Array(part.utf8)) }
        return key
    }

    public struct Result: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
    }

    /// The Authorization value for a request whose headers are final (x-oss-date,
    /// x-oss-content-sha256 and, for STS, x-oss-security-token set).
    public static func authorize(_ request: SigningRequest, credentials: Credentials, region: String,
                                 additionalHeaders: [String] = [], style: WireStyle = .standard,
                                 signingKey: [UInt8]? = nil, dateTime: String? = nil) -> Result {
        let dateTime = dateTime ?? request.headers["x-oss-date"] ?? ""
        let day = String(dateTime.prefix(8))
        let scope = scope(day: day, region: region)
        let additional = additionalHeaderList(additionalHeaders, request.headers)
        let creq = canonicalRequest(request, additionalHeaders: additional)
        let sts = stringToSign(canonicalRequest: creq, dateTime: dateTime, scope: scope)
        let key = signingKey ?? Self.signingKey(secret: credentials.accessKeySecret, day: day, region: region)
        let signature = Hex.lower(HMAC.sha256(key: key, data: Array(sts.utf8)))
        let credential = "Credential=\(credentials.accessKeyId)/\(scope)"
        let extra = additional.isEmpty ? nil : "AdditionalHeaders=" + additional.joined(separator: ";")
        let auth: String = switch style {
        case .standard: ([credential] + (extra.map { [$0] } ?? []) + ["Signature=\(signature)"]).joined(separator: ",")
        case .oss2: ([credential, "Signature=\(signature)"] + (extra.map { [$0] } ?? [])).joined(separator: ", ")
        }
        return Result(canonicalRequest: creq, stringToSign: sts, signature: signature,
                      authorization: algorithm + " " + auth)
    }

    /// Adds x-oss-date, x-oss-content-sha256, the STS token and Date, then Authorization.
    public static func sign(_ request: inout SigningRequest, credentials: Credentials, region: String,
                            time: SigningTime, signingKey: [UInt8]? = nil) {
        request.headers.set("x-oss-date", time.iso8601Basic)
        request.headers.set("x-oss-content-sha256", unsignedPayload)
        request.headers.set("Date", time.rfc1123)
        if let token = credentials.securityToken { request.headers.set("x-oss-security-token", token.reveal()) }
        let result = authorize(request, credentials: credentials, region: region, signingKey: signingKey)
        request.headers.set("Authorization", result.authorization)
    }

    /// Query items to append to a presigned URL valid for `expiresIn` seconds from `time`.
    public static func presignQuery(_ request: SigningRequest, credentials: Credentials, region: String,
                                    time: SigningTime, expiresIn: Int64, style: WireStyle = .standard)
        -> (items: [QueryItem], canonicalRequest: String, stringToSign: String)
    {
        let scope = scope(day: time.day, region: region)
        let version = QueryItem("x-oss-signature-version", algorithm)
        let date = QueryItem("x-oss-date", time.iso8601Basic)
        let expires = QueryItem("x-oss-expires", String(expiresIn))
        let credential = QueryItem("x-oss-credential", "\(credentials.accessKeyId)/\(scope)")
        let token = credentials.securityToken.map { [QueryItem("x-oss-security-token", $0.reveal())] } ?? []
        let items: [QueryItem] = switch style {
        case .standard: [version, date, expires, credential] + token
        case .oss2: token + [date, expires, version, credential]
        }
        let creq = canonicalRequest(request, extraQuery: items)
        let sts = stringToSign(canonicalRequest: creq, dateTime: time.iso8601Basic, scope: scope)
        let key = signingKey(secret: credentials.accessKeySecret, day: time.day, region: region)
        let signature = Hex.lower(HMAC.sha256(key: key, data: Array(sts.utf8)))
        return (items + [QueryItem("x-oss-signature", signature)], creq, sts)
    }
}
