// The one error type of the object layer. The client never picks errno: it
// reports what the service (or the wire) said, and the VFS maps that in one place.

public enum ObjectStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The service answered with an error status.
    case service(ServiceError)
    /// No usable HTTP answer: connection refused, reset, timeout, DNS, TLS.
    case transport(TransportFailure)
    /// The body's CRC-64 differs from the one the server reported.
    case checksumMismatch(key: String, expected: UInt64, actual: UInt64)
    /// The answer could not be understood (bad XML, missing header, body too long).
    case invalidResponse(String)
    /// No credentials could be found or refreshed; the text lists what was tried.
    case credentials(String)

    public var description: String {
        switch self {
        case .service(let e): e.description
        case .transport(let t): t.description
        case .checksumMismatch(let key, let expected, let actual):
            "CRC-64 mismatch on \(key): server \(expected), local \(actual)"
        case .invalidResponse(let why): "invalid response: \(why)"
        case .credentials(let why): why
        }
    }

    /// The OSS error code (`NoSuchKey`, `SignatureDoesNotMatch`, ...) when the service answered.
    public var code: String? {
        if case .service(let e) = self { return e.code }
        return nil
    }

    /// The service refused the key itself (unknown, wrong secret, bad or expired token),
    /// not a permission: credentials read again may cure it.
    public var refusedCredentials: Bool {
        guard case .service(let e) = self, e.status == 403 else { return false }
        return ["InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken", "SecurityTokenExpired"].contains(e.code)
    }

    /// What the failure means, in the vocabulary the VFS decides on: the OSS code
    /// strings are matched here and nowhere else.
    public var kind: Kind {
        guard case .service(let e) = self else {
            if case .credentials = self { return .denied }
            return .other
        }
        switch e.code {
        case "NoSuchKey": return .notFound
        case "SymlinkTargetNotExist": return .symlinkTargetMissing
        case "PreconditionFailed": return .preconditionFailed
        case "PositionNotEqualToLength": return .positionMismatch
        case "ObjectNotAppendable": return .notAppendable
        case "FileAlreadyExists": return .exists
        case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken", "SecurityTokenExpired":
            return .denied
        default: return .other
        }
    }

    public enum Kind: Sendable, Equatable {
        case notFound
        /// HEAD or GET of a symlink whose target does not exist (the link itself does).
        case symlinkTargetMissing
        case preconditionFailed
        /// An append at a position that is not the object's length.
        case positionMismatch
        case notAppendable
        case exists
        case denied
        case other
    }

    public var httpStatus: Int? {
        if case .service(let e) = self { return e.status }
        return nil
    }
}

public struct ServiceError: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var requestId: String?
    public var hostId: String?
    /// OSS's fine-grained error code, e.g. `0016-00000502`.
    public var ec: String?

    public init(status: Int, code: String, message: String = "", requestId: String? = nil, hostId: String? = nil,
                ec: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.requestId = requestId
        self.hostId = hostId
        self.ec = ec
    }

    public var description: String {
        var s = "\(code) (HTTP \(status))"
        if !message.isEmpty { s += ": \(message)" }
        if let ec { s += " [EC \(ec)]" }
        if let requestId { s += " [RequestId \(requestId)]" }
        return s
    }
}

public struct TransportFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case connect, timeout, reset, dns, tls, aborted, other
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { "\(kind.rawValue) error: \(message)" }
}
