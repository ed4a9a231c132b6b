// An ECS RAM role from the instance metadata service. With no role name the
// role is discovered; a session token (the hardened mode, PUT /latest/api/token)
// is asked for first and, when the service does not offer it, plain GETs are used.
import Foundation
import HTTPSeam
import ObjectStore

public struct ECSRoleCredentialsProvider: CredentialsProvider {
    public let baseURL: String
    public let roleName: String?
    let transport: HTTPTransport
    public var sourceDescription: String { "ECS RAM role \(roleName ?? "(discovered)") via \(baseURL)" }

    /// The token asked for lives 6 hours, the most the service grants.
    static let tokenTTL = "21600"

    public init(roleName: String?, baseURL: String = "http://100.100.100.200", transport: HTTPTransport) {
        self.roleName = roleName.flatMap { $0.isEmpty || $0 == "auto" ? nil : $0 }
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.transport = transport
    }

    public func credentials() async throws -> Credentials? {
        let token = try? await fetch("PUT", "/latest/api/token",
                                     headers: [("X-aliyun-ecs-metadata-token-ttl-seconds", Self.tokenTTL)])
        let auth: [(String, String)] = token.map { [("X-aliyun-ecs-metadata-token", String(decoding: $0, as: UTF8.self))] } ?? []
        let path = "/latest/meta-data/ram/security-credentials/"
        var role = roleName
        if role == nil {
            let listing = String(decoding: try await fetch("GET", path, headers: auth), as: UTF8.self)
            role = listing.split(whereSeparator: \.isNewline).first.map { $0.trimmingSpaces() }
            guard let r = role, !r.isEmpty else {
                throw ObjectStoreError.credentials("\(sourceDescription): no RAM role is attached to this instance")
            }
        }
        let body = try await fetch("GET", path + URIEncoding.encode(role!), headers: auth)
        return try CredentialsJSON.decode(Data(body), source: sourceDescription)
    }

    private func fetch(_ method: String, _ path: String, headers: [(String, String)]) async throws -> [UInt8] {
        let sink = ResponseCollector(target: .collect(limit: 64 * 1024), computeCRC: false)
        let request = HTTPRequest(method: method, url: baseURL + path, headers: HTTPHeaders(headers),
                                  body: method == "PUT" ? .empty : nil)
        let head: HTTPResponseHead
        do {
            head = try await transport.execute(request, sink: sink)
        } catch {
            throw ObjectStoreError.credentials("\(sourceDescription): \(path) unreachable (\(error))")
        }
        guard head.status == 200 else {
            throw ObjectStoreError.credentials("\(sourceDescription): \(method) \(path) answered HTTP \(head.status)")
        }
        return sink.body
    }
}
