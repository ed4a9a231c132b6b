// What a signer needs to know about a request, independent of the wire form
// (virtual-hosted or path style, how the key was escaped): the decoded bucket,
// key and query, and the headers that will be sent.
import HTTPSeam
import OSSCrypto

public struct QueryItem: Sendable, Hashable {
    public var name: String
    /// nil or "" both mean a bare parameter (`?uploads`).
    public var value: String?
    public init(_ name: String, _ value: String? = nil) {
        self.name = name
        self.value = value
    }
}

public struct SigningRequest: Sendable {
    public var method: String
    /// nil for service-level requests.
    public var bucket: String?
    /// Decoded object key; "" for bucket-level requests.
    public var key: String
    public var query: [QueryItem]
    public var headers: HTTPHeaders

    public init(method: String, bucket: String?, key: String, query: [QueryItem] = [], headers: HTTPHeaders = HTTPHeaders()) {
        self.method = method
        self.bucket = bucket
        self.key = key
        self.query = query
        self.headers = headers
    }
}

/// Which official SDK's punctuation to copy where the SDKs differ without the
/// signature differing (V4 Authorization separators, presigned query order, oss2's
/// escaping of `/` in paths). Signatures are the same either way; `.standard` is
/// what the V2 SDKs send and what ossmount uses.
public enum WireStyle: Sendable {
    case standard
    case oss2
}

public enum SignatureVersion: String, Sendable {
    case v1, v4
}

/// Times as the two signature versions write them.
public struct SigningTime: Sendable, Hashable {
    public let unixSeconds: Int64
    public init(unixSeconds: Int64) { self.unixSeconds = unixSeconds }

    /// `Tue, 02 Jan 2024 03:04:05 GMT`
    public var rfc1123: String { HTTPDate.rfc1123(unixSeconds) }
    /// `20240102T030405Z`
    public var iso8601Basic: String { HTTPDate.iso8601Basic(unixSeconds) }
    /// `20240102`
    public var day: String { String(iso8601Basic.prefix(8)) }
}

/// Canonical headers: lower-cased names, trimmed values, duplicates joined by ",",
/// sorted by name. `include` picks the names.
func canonicalHeaders(_ headers: HTTPHeaders, include: (String) -> Bool) -> [(String, String)] {
    var merged: [String: String] = [:]
    for f in headers {
        let name = f.name.lowercased()
        guard include(name) else { continue }
        let value = f.value.trimmingSpaces()
        merged[name] = merged[name].map { $0 + "," + value } ?? value
    }
    return merged.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// Byte-order comparison, as every SDK sorts.
func byteOrder(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }
