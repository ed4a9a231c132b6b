// Checks a request's signature exactly as OSS does: Signature V1 and V4 in the
// Authorization header or in presigned-URL query parameters, STS tokens, and the
// 15-minute clock-skew limit. The canonical forms come from OSSClient's signers,
// which reproduce the official SDKs byte for byte; a mismatch answers
// SignatureDoesNotMatch with the server's StringToSign, as OSS does.
import HTTPSeam
import OSSClient
import OSSCrypto

public struct LocalAccount: Sendable {
    public var accessKeyId: String
    public var secret: String
    public var securityToken: String?
    public init(accessKeyId: String, secret: String, securityToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secret = secret
        self.securityToken = securityToken
    }
}

typealias SigningHeaders = HTTPHeaders

struct Authenticator: Sendable {
    let accounts: [String: LocalAccount]
    /// Keys issued by osslocal's STS, accepted until they expire.
    let sts: LocalSTS?
    let region: String
    let anonymous: Bool
    let now: @Sendable () -> Double

    /// OSS refuses a request whose time is further than this from its clock.
    static let maxSkew = 15.0 * 60
    /// V4 presigned URLs live at most 7 days.
    static let maxPresignedV4 = 7 * 24 * 3600.0

    func signingRequest(_ r: ParsedRequest, dropping: Set<String> = []) -> SigningRequest {
        SigningRequest(method: r.method, bucket: r.bucket, key: r.key,
                       query: r.query.filter { !dropping.contains($0.name) },
                       headers: SigningHeaders(r.headers.map { ($0.name, $0.value) }))
    }

    func account(_ id: String) throws(OSSError) -> LocalAccount {
        var found = accounts[id]
        if found == nil, let sts { found = try sts.account(id) }
        guard let a = found else {
            throw OSSError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.",
                           ec: "0002-00000005")
        }
        return a
    }

    func checkToken(_ account: LocalAccount, _ sent: String?) throws(OSSError) {
        guard account.securityToken == sent || (account.securityToken == nil && (sent ?? "").isEmpty) else {
            throw OSSError(403, "InvalidSecurityToken", "The security token you provided is invalid.", ec: "0002-00000012")
        }
    }

    func checkSkew(_ t: Double?) throws(OSSError) {
        guard let t else { throw OSSError(403, "AccessDenied", "Missing or malformed request time.", ec: "0002-00000001") }
        guard abs(t - now()) <= Self.maxSkew else {
            throw OSSError(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.",
                           ec: "0002-00000504")
        }
    }

    func mismatch(_ stringToSign: String, canonical: String? = nil) -> OSSError {
        var details = [("StringToSign", stringToSign)]
        if let canonical { details.append(("CanonicalRequest", canonical)) }
        return OSSError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                        ec: "0002-00000040", details: details)
    }

    func verify(_ r: ParsedRequest) throws(OSSError) {
        if anonymous { return }
        if let auth = r.header("Authorization") {
            if auth.hasPrefix("OSS4-HMAC-SHA256 ") { return try verifyV4(r, auth) }
            if auth.hasPrefix("OSS ") { return try verifyV1(r, auth) }
            throw OSSError(400, "InvalidArgument", "Authorization header is invalid.", ec: "0002-00000015")
        }
        if r.has("OSSAccessKeyId") { return try verifyPresignedV1(r) }
        if r.queryValue("x-oss-signature-version") != nil { return try verifyPresignedV4(r) }
        throw OSSError(403, "AccessDenied", "You have no right to access this object because of bucket acl.", ec: "0003-00000001")
    }

    private func verifyV1(_ r: ParsedRequest, _ auth: String) throws(OSSError) {
        let cred = auth.dropFirst(4)
        guard let colon = cred.lastIndex(of: ":") else { throw OSSError(400, "InvalidArgument", "Authorization header is invalid.") }
        let acct = try account(String(cred[..<colon]))
        try checkToken(acct, r.header("x-oss-security-token") ?? r.header("security-token"))
        let date = r.header("x-oss-date") ?? r.header("Date") ?? ""
        try checkSkew(HTTPDate.parseRFC1123(date).map { Double($0.seconds) })
        let sts = SignerV1.stringToSign(signingRequest(r), dateSlot: date)
        guard SignerV1.signature(sts, secret: Secret(acct.secret)) == String(cred[cred.index(after: colon)...]) else {
            throw mismatch(sts)
        }
    }

    /// Splits `Credential=..., AdditionalHeaders=..., Signature=...` in any order and spacing.
    static func fields(_ text: Substring) -> [String: String] {
        var out: [String: String] = [:]
        for item in text.split(separator: ",") {
            let kv = item.trimmingCharacters().split(separator: "=", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = String(kv[1]) }
        }
        return out
    }

    private func checkScope(_ credential: String, dateTime: String) throws(OSSError) -> LocalAccount {
        let parts = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, parts[3] == "oss", parts[4] == "aliyun_v4_request" else {
            throw OSSError(400, "InvalidArgument", "Invalid credential in Authorization header.", ec: "0002-00000211")
        }
        guard parts[1] == String(dateTime.prefix(8)) else {
            throw OSSError(400, "InvalidArgument", "Invalid signing date in Authorization header.", ec: "0002-00000212")
        }
        guard parts[2] == region else {
            throw OSSError(400, "InvalidArgument", "Invalid signing region in Authorization header: expected \(region).",
                           ec: "0002-00000213")
        }
        return try account(parts[0])
    }

    private func verifyV4(_ r: ParsedRequest, _ auth: String) throws(OSSError) {
        let f = Self.fields(auth.dropFirst("OSS4-HMAC-SHA256 ".count))
        guard let credential = f["Credential"], let signature = f["Signature"] else {
            throw OSSError(400, "InvalidArgument", "Authorization header is invalid.", ec: "0002-00000015")
        }
        let dateTime = r.header("x-oss-date") ?? ""
        try checkSkew(HTTPDate.parseISO8601(dateTime).map { Double($0.seconds) })
        let acct = try checkScope(credential, dateTime: dateTime)
        try checkToken(acct, r.header("x-oss-security-token"))
        if let payload = r.header("x-oss-content-sha256"), payload != SignerV4.unsignedPayload {
            throw OSSError(400, "InvalidArgument", "The value of the x-oss-content-sha256 header is invalid.",
                           ec: "0002-00000214")
        }
        let additional = f["AdditionalHeaders"].map { $0.split(separator: ";").map(String.init) } ?? []
        let creds = Credentials(accessKeyId: acct.accessKeyId, accessKeySecret: acct.secret)
        let result = SignerV4.authorize(signingRequest(r), credentials: creds, region: region, additionalHeaders: additional)
        guard result.signature == signature else { throw mismatch(result.stringToSign, canonical: result.canonicalRequest) }
    }

    private func verifyPresignedV1(_ r: ParsedRequest) throws(OSSError) {
        let acct = try account(r.queryValue("OSSAccessKeyId") ?? "")
        try checkToken(acct, r.queryValue("security-token"))
        guard let expires = r.queryValue("Expires"), let t = Double(expires) else {
            throw OSSError(403, "AccessDenied", "Expires is missing or invalid.", ec: "0002-00000009")
        }
        guard t >= now() else { throw OSSError(403, "AccessDenied", "Request has expired.", ec: "0002-00000069") }
        let request = signingRequest(r, dropping: ["OSSAccessKeyId", "Expires", "Signature"])
        let sts = SignerV1.stringToSign(request, dateSlot: expires)
        guard SignerV1.signature(sts, secret: Secret(acct.secret)) == r.queryValue("Signature") else { throw mismatch(sts) }
    }

    private func verifyPresignedV4(_ r: ParsedRequest) throws(OSSError) {
        guard r.queryValue("x-oss-signature-version") == SignerV4.algorithm, let credential = r.queryValue("x-oss-credential"),
            let dateTime = r.queryValue("x-oss-date"), let signature = r.queryValue("x-oss-signature"),
            let expires = r.queryValue("x-oss-expires").flatMap(Double.init),
            let start = HTTPDate.parseISO8601(dateTime).map({ Double($0.seconds) })
        else { throw OSSError(400, "InvalidArgument", "Presigned URL parameters are missing or invalid.", ec: "0002-00000219") }
        guard expires <= Self.maxPresignedV4 else {
            throw OSSError(400, "InvalidArgument", "x-oss-expires must be at most 604800 seconds.", ec: "0002-00000220")
        }
        guard now() <= start + expires else { throw OSSError(403, "AccessDenied", "Request has expired.", ec: "0002-00000069") }
        let acct = try checkScope(credential, dateTime: dateTime)
        try checkToken(acct, r.queryValue("x-oss-security-token"))
        let additional = r.queryValue("x-oss-additional-headers").map { $0.split(separator: ";").map(String.init) } ?? []
        // The canonical query of a presigned request is its whole query but the signature.
        let request = signingRequest(r, dropping: ["x-oss-signature"])
        let creds = Credentials(accessKeyId: acct.accessKeyId, accessKeySecret: acct.secret)
        let result = SignerV4.authorize(request, credentials: creds, region: region, additionalHeaders: additional,
                                        dateTime: dateTime)
        guard result.signature == signature else { throw mismatch(result.stringToSign, canonical: result.canonicalRequest) }
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
