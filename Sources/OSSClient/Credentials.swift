// Credentials as values that cannot leak: the secret and the security token live
// in `Secret`, whose every textual and reflective form is "<redacted>".
import ObjectStore

/// A string that never prints.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    private let value: String
    public init(_ value: String) { self.value = value }
    /// The only way to read it: at the point of use (signing).
    public func reveal() -> String { value }
    public var isEmpty: Bool { value.isEmpty }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

public struct Credentials: Sendable, Hashable, CustomStringConvertible {
    public var accessKeyId: String
    public var accessKeySecret: Secret
    public var securityToken: Secret?
    /// When temporary credentials stop working, as seconds since the epoch.
    public var expiration: Double?

    public init(accessKeyId: String, accessKeySecret: String, securityToken: String? = nil, expiration: Double? = nil) {
        self.accessKeyId = accessKeyId
        self.accessKeySecret = Secret(accessKeySecret)
        self.securityToken = securityToken.flatMap { $0.isEmpty ? nil : Secret($0) }
        self.expiration = expiration
    }

    public var description: String {
        "Credentials(accessKeyId: \(accessKeyId), secret: <redacted>\(securityToken == nil ? "" : ", token: <redacted>"))"
    }

    /// True when the credentials expire within `margin` seconds of `now`.
    public func expires(within margin: Double, of now: Double) -> Bool {
        guard let expiration else { return false }
        return expiration - now <= margin
    }
}

/// A source of credentials. `credentials()` is called before every request, so
/// providers cache and must answer fast while their credentials are valid.
public protocol CredentialsProvider: Sendable {
    /// A short name for error messages: "environment", "passwd file /etc/passwd-ossfs", ...
    var sourceDescription: String { get }
    /// The credentials, or nil when this source has none configured (so a chain
    /// goes on to the next). Throws when the source exists but is broken.
    func credentials() async throws -> Credentials?
    /// Something that changes when the source's credentials may have (a file's inode,
    /// size and modification time), so a cache reads it again; nil: nothing to watch.
    func changeStamp() -> String?
    /// The server refused the credentials (a 403 such as InvalidAccessKeyId): forget
    /// any cached ones, so the next call reads the source again.
    func invalidate()
    /// The credentials when they are at hand without waiting and need no refresh (a
    /// request is signed with them in the caller's thread); nil: call `credentials()`.
    func credentialsNow() -> Credentials?
}

extension CredentialsProvider {
    public func changeStamp() -> String? { nil }
    public func invalidate() {}
    public func credentialsNow() -> Credentials? { nil }
}

public struct StaticCredentialsProvider: CredentialsProvider {
    let value: Credentials
    public let sourceDescription: String
    public init(_ credentials: Credentials, source: String = "options") {
        value = credentials
        sourceDescription = source
    }
    public func credentials() async throws -> Credentials? { value }
    public func credentialsNow() -> Credentials? { value }
}

/// `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN` (ossfs, ossutil), or
/// the Alibaba Cloud SDKs' `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET`,
/// `ALIBABA_CLOUD_SECURITY_TOKEN` when the first pair is absent.
public struct EnvironmentCredentialsProvider: CredentialsProvider {
    let environment: [String: String]
    public var sourceDescription: String {
        "environment (OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET or ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET)"
    }
    public init(environment: [String: String]) { self.environment = environment }

    /// The names each family uses for id, secret and token.
    static let families = [
        ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"),
    ]

    public func credentials() async throws -> Credentials? { try read() }
    public func credentialsNow() -> Credentials? { try? read() }

    private func read() throws -> Credentials? {
        for (idName, secretName, tokenName) in Self.families {
            let id = environment[idName] ?? ""
            let secret = environment[secretName] ?? ""
            if id.isEmpty && secret.isEmpty { continue }
            guard !id.isEmpty, !secret.isEmpty else {
                throw ObjectStoreError.credentials("environment: both \(idName) and \(secretName) must be set")
            }
            return Credentials(accessKeyId: id, accessKeySecret: secret,
                               securityToken: environment[tokenName].flatMap { $0.isEmpty ? nil : $0 })
        }
        return nil
    }
}
