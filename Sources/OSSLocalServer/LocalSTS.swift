// A minimal STS: AssumeRoleWithOIDC, as ACK's RRSA uses it (a pod's service
// account token exchanged for temporary keys), so the whole flow runs locally.
// It accepts one role ARN and the OIDC tokens listed in a file (re-read on every
// call, so a test rotates them), and issues keys that the same osslocal then
// accepts until they expire, like STS keys on OSS. Tokens are not verified as
// JWTs: this stands in for the identity provider, not for its cryptography.
import Foundation
import NIOCore
import OSSClient
import OSSCrypto
import Synchronization

public struct LocalSTSConfig: Sendable {
    /// The role that may be assumed (`acs:ram::123:role/name`).
    public var roleArn: String
    /// One accepted OIDC token per line.
    public var tokensFile: String
    /// Lifetime of issued keys; real STS allows 900 s and more, tests ask for less.
    public var duration: Double = 3600
    public init(roleArn: String, tokensFile: String, duration: Double = 3600) {
        self.roleArn = roleArn
        self.tokensFile = tokensFile
        self.duration = duration
    }
}

final class LocalSTS: Sendable {
    let config: LocalSTSConfig
    let now: @Sendable () -> Double
    private let issued = Mutex<[String: (account: LocalAccount, expires: Double)]>([:])

    init(config: LocalSTSConfig, now: @escaping @Sendable () -> Double) {
        self.config = config
        self.now = now
    }

    /// An issued account, while it is valid.
    func account(_ id: String) throws(OSSError) -> LocalAccount? {
        guard let entry = issued.withLock({ $0[id] }) else { return nil }
        guard entry.expires > now() else {
            throw OSSError(403, "SecurityTokenExpired", "The security token you provided has expired.", ec: "0002-00000012")
        }
        return entry.account
    }

    /// `POST /?Action=AssumeRoleWithOIDC` with RoleArn, OIDCProviderArn, OIDCToken,
    /// RoleSessionName and DurationSeconds in the form body (or the query).
    func assumeRoleWithOIDC(_ r: ParsedRequest, _ body: ReceivedBody) -> LocalResponse {
        var params: [String: String] = [:]
        for q in r.query { params[q.name] = q.value }
        if case .document(let bytes) = body {
            for pair in String(decoding: bytes, as: UTF8.self).split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let decode = { (s: Substring) in URIEncoding.decode(s.replacingOccurrences(of: "+", with: " ")) }
                params[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
            }
        }
        for name in ["RoleArn", "OIDCProviderArn", "OIDCToken", "RoleSessionName"] where (params[name] ?? "").isEmpty {
            return Self.error(400, "MissingParameter", "\(name) is mandatory for this action.")
        }
        guard params["RoleArn"] == config.roleArn else {
            return Self.error(404, "EntityNotExist.Role", "The role does not exist.")
        }
        let accepted = (try? String(contentsOfFile: config.tokensFile, encoding: .utf8))?
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) } ?? []
        guard let token = params["OIDCToken"], accepted.contains(token) else {
            return Self.error(400, "AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid or has expired.")
        }
        let duration = min(config.duration, Double(params["DurationSeconds"] ?? "") ?? config.duration)
        let expires = now() + duration
        let account = LocalAccount(accessKeyId: "STS." + Self.random(12), secret: Self.random(20),
                                   securityToken: "CAIS" + Self.random(40))
        issued.withLock { s in
            let t = now()
            s = s.filter { $0.value.expires > t - 3600 }  // forget long-expired keys
            s[account.accessKeyId] = (account, expires)
        }
        let json: [String: Any] = [
            "RequestId": UUID().uuidString,
            "AssumedRoleUser": ["Arn": config.roleArn + "/" + (params["RoleSessionName"] ?? ""),
                                "AssumedRoleId": "3" + Self.random(10)],
            "Credentials": ["AccessKeyId": account.accessKeyId, "AccessKeySecret": account.secret,
                            "SecurityToken": account.securityToken ?? "",
                            "Expiration": HTTPDate.iso8601(Int64(expires)).replacingOccurrences(of: ".000Z", with: "Z")],
        ]
        return Self.json(200, json)
    }

    static func error(_ status: Int, _ code: String, _ message: String) -> LocalResponse {
        json(status, ["RequestId": UUID().uuidString, "Code": code, "Message": message, "HostId": "sts.aliyuncs.com"])
    }

    static func json(_ status: Int, _ object: [String: Any]) -> LocalResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return LocalResponse(status: status, headers: [("Content-Type", "application/json;charset=utf-8")],
                             body: .bytes(ByteBuffer(bytes: data)), length: Int64(data.count))
    }

    static func random(_ count: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<count).map { _ in alphabet.randomElement()! })
    }
}
