// RRSA (RAM Roles for Service Accounts): in an ACK pod, the service account's
// OIDC token (a file Kubernetes rotates) is exchanged with STS
// AssumeRoleWithOIDC for temporary keys. The request needs no signature; the
// token is read again at every exchange, so a rotated token is used as soon as
// the keys are refreshed (CachingCredentialsProvider does that before expiry).
import Foundation
import HTTPSeam
import ObjectStore

public struct OIDCRoleCredentialsProvider: CredentialsProvider {
    public let roleArn: String
    public let providerArn: String
    public let tokenFile: String
    /// `https://sts.aliyuncs.com`, a regional `sts-vpc.cn-hangzhou.aliyuncs.com` (https is
    /// added), or `http://127.0.0.1:PORT` for osslocal.
    public let stsEndpoint: String
    public let sessionName: String
    public let durationSeconds: Int
    let transport: HTTPTransport
    public var sourceDescription: String { "RRSA role \(roleArn) via \(stsEndpoint)" }

    public init(roleArn: String, providerArn: String, tokenFile: String, stsEndpoint: String?, sessionName: String?,
                durationSeconds: Int = 3600, transport: HTTPTransport) {
        self.roleArn = roleArn
        self.providerArn = providerArn
        self.tokenFile = tokenFile
        var endpoint = stsEndpoint.flatMap { $0.isEmpty ? nil : $0 } ?? "sts.aliyuncs.com"
        if !endpoint.contains("://") { endpoint = "https://" + endpoint }
        self.stsEndpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.sessionName = sessionName.flatMap { $0.isEmpty ? nil : $0 } ?? "ossmount-\(Int(Date().timeIntervalSince1970))"
        self.durationSeconds = durationSeconds
        self.transport = transport
    }

    /// The RRSA variables ACK injects into a pod (`ALIBABA_CLOUD_ROLE_ARN`,
    /// `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`; optional
    /// `ALIBABA_CLOUD_STS_ENDPOINT`, `ALIBABA_CLOUD_ROLE_SESSION_NAME`); nil unless all three are set.
    public static func fromEnvironment(_ env: [String: String], transport: HTTPTransport) -> OIDCRoleCredentialsProvider? {
        guard let role = env["ALIBABA_CLOUD_ROLE_ARN"], !role.isEmpty,
            let provider = env["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"], !provider.isEmpty,
            let file = env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"], !file.isEmpty
        else { return nil }
        return OIDCRoleCredentialsProvider(roleArn: role, providerArn: provider, tokenFile: file,
                                           stsEndpoint: env["ALIBABA_CLOUD_STS_ENDPOINT"],
                                           sessionName: env["ALIBABA_CLOUD_ROLE_SESSION_NAME"], transport: transport)
    }

    public func credentials() async throws -> Credentials? {
        guard let data = FileManager.default.contents(atPath: tokenFile) else {
            throw ObjectStoreError.credentials("\(sourceDescription): cannot read the OIDC token file \(tokenFile)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw ObjectStoreError.credentials("\(sourceDescription): \(tokenFile) is empty") }
        let timestamp = HTTPDate.iso8601(Int64(Date().timeIntervalSince1970)).replacingOccurrences(of: ".000Z", with: "Z")
        let query = [("Action", "AssumeRoleWithOIDC"), ("Format", "JSON"), ("Version", "2015-04-01"),
                     ("Timestamp", timestamp)]
        let form = [("RoleArn", roleArn), ("OIDCProviderArn", providerArn), ("OIDCToken", token),
                    ("RoleSessionName", sessionName), ("DurationSeconds", String(durationSeconds))]
        func encode(_ pairs: [(String, String)]) -> String {
            pairs.map { URIEncoding.encode($0.0) + "=" + URIEncoding.encode($0.1) }.joined(separator: "&")
        }
        let body = Array(encode(form).utf8)
        let request = HTTPRequest(method: "POST", url: stsEndpoint + "/?" + encode(query),
                                  headers: HTTPHeaders([("Content-Type", "application/x-www-form-urlencoded"),
                                                        ("Accept", "application/json")]),
                                  body: UploadBody(body))
        let sink = ResponseCollector(target: .collect(limit: 64 * 1024), computeCRC: false)
        let head: HTTPResponseHead
        do {
            head = try await transport.execute(request, sink: sink)
        } catch {
            throw ObjectStoreError.credentials("\(sourceDescription): unreachable (\(error))")
        }
        let reply = head.status < 300 ? sink.body : sink.errorBody
        let object = try? JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any]
        guard head.status == 200, let creds = object?["Credentials"] as? [String: Any] else {
            let code = object?["Code"] as? String ?? "HTTP \(head.status)"
            throw ObjectStoreError.credentials("\(sourceDescription): AssumeRoleWithOIDC failed: \(code)")
        }
        return try CredentialsJSON.decode(try JSONSerialization.data(withJSONObject: creds), source: sourceDescription)
    }
}
