// Where requests go and how their URLs are written. Virtual-hosted style
// (`https://bucket.host/key`) is what OSS expects; path style
// (`http://host/bucket/key`) is used for IP addresses and localhost, where a
// bucket sub-domain cannot resolve.
import Foundation

public struct OSSEndpoint: Sendable, Hashable, CustomStringConvertible {
    public enum Addressing: String, Sendable { case virtualHosted = "virtual", path }

    public var scheme: String
    /// Host and optional `:port`.
    public var host: String
    public var addressing: Addressing

    public init(host: String, scheme: String = "https", addressing: Addressing) {
        self.host = host
        self.scheme = scheme
        self.addressing = addressing
    }

    /// Parses `oss-cn-hangzhou.aliyuncs.com`, `https://host`, `http://127.0.0.1:9100`.
    /// Without a scheme, https. With `addressing` nil, path style for IPs and localhost.
    public init(parsing text: String, addressing: Addressing? = nil) throws(EndpointError) {
        var rest = Substring(text.trimmingSpaces())
        var scheme = "https"
        if let r = rest.range(of: "://") {
            scheme = rest[..<r.lowerBound].lowercased()
            rest = rest[r.upperBound...]
        }
        guard scheme == "http" || scheme == "https" else { throw EndpointError("unsupported scheme \(scheme)://") }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains(" ") else {
            throw EndpointError("'\(text)' is not a host name or http(s)://host[:port]")
        }
        self.init(host: String(rest), scheme: scheme, addressing: addressing ?? Self.defaultAddressing(String(rest)))
    }

    static func defaultAddressing(_ hostPort: String) -> Addressing {
        var host = hostPort
        if host.hasPrefix("[") { return .path }  // IPv6 literal
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        if host == "localhost" || host.hasSuffix(".localhost") { return .path }
        let parts = host.split(separator: ".")
        if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) { return .path }
        return .virtualHosted
    }

    public var description: String { "\(scheme)://\(host)" }

    /// The URL of a request. `style` .oss2 escapes `/` in keys and writes spaces in query
    /// values as `+`, as oss2 does; otherwise `/` stays and spaces are `%20`.
    public func url(bucket: String?, key: String, query: [QueryItem], style: WireStyle = .standard) -> String {
        var url = scheme + "://"
        let path = URIEncoding.encode(key, keepSlash: style == .standard)
        switch (bucket, addressing) {
        case (nil, _): url += host + "/"
        case (let b?, .virtualHosted): url += b + "." + host + "/" + path
        case (let b?, .path): url += host + "/" + b + "/" + path
        }
        if !query.isEmpty {
            url += "?" + query.map {
                URIEncoding.encode($0.name) + "=" + URIEncoding.encode($0.value ?? "", spaceAsPlus: style == .oss2)
            }.joined(separator: "&")
        }
        return url
    }
}

public struct EndpointError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
