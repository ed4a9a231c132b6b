// Turning an error answer into ServiceError. OSS sends an <Error> document; HEAD
// answers carry no body, so their code comes from the `x-oss-err` header (the
// same document, base64) when present, else from `x-oss-ec` and the status.
import HTTPSeam
import ObjectStore
import OSSCrypto

enum ErrorDecoding {
    /// Codes for bodiless answers, by fine-grained EC when the server sent one.
    static let codesByEC: [String: String] = [
        "0026-00000001": "NoSuchKey",
        "0015-00000101": "NoSuchBucket",
        "0042-00000002": "NoSuchUpload",
        "0002-00000007": "SignatureDoesNotMatch",
        "0003-00000001": "AccessDenied",
    ]

    static func codeForStatus(_ status: Int) -> String {
        switch status {
        case 304: "NotModified"
        case 400: "InvalidArgument"
        case 403: "AccessDenied"
        case 404: "NoSuchKey"
        case 405: "MethodNotAllowed"
        case 409: "Conflict"
        case 412: "PreconditionFailed"
        case 416: "InvalidRange"
        case 429: "TooManyRequests"
        case 503: "ServiceUnavailable"
        default: status >= 500 ? "InternalError" : "HTTP\(status)"
        }
    }

    static func decode(_ head: HTTPResponseHead, body: [UInt8]) -> ServiceError {
        let requestId = head.headers["x-oss-request-id"]
        let ec = head.headers["x-oss-ec"]
        var document = body
        if document.isEmpty, let err = head.headers["x-oss-err"], let decoded = Base64.decode(err) {
            document = decoded
        }
        if let xml = XMLNode.parse(document), xml.name == "Error", let code = xml.text("Code") {
            return ServiceError(status: head.status, code: code, message: xml.text("Message") ?? "",
                                requestId: xml.text("RequestId") ?? requestId, hostId: xml.text("HostId"),
                                ec: xml.text("EC") ?? ec)
        }
        let code = ec.flatMap { codesByEC[$0] } ?? codeForStatus(head.status)
        return ServiceError(status: head.status, code: code, message: "", requestId: requestId, hostId: nil, ec: ec)
    }
}

/// Reading object metadata from response headers (HEAD, GET, PUT answers).
enum ResponseHeaders {
    static func etag(_ h: HTTPHeaders) throws(ObjectStoreError) -> ETag {
        guard let v = h["ETag"] else { throw .invalidResponse("no ETag header") }
        return ETag(v)
    }

    static func crc64(_ h: HTTPHeaders) -> UInt64? { h["x-oss-hash-crc64ecma"].flatMap { UInt64($0) } }

    static func userMetadata(_ h: HTTPHeaders) -> [String: String] {
        var meta: [String: String] = [:]
        for f in h where f.name.lowercased().hasPrefix("x-oss-meta-") {
            meta[String(f.name.lowercased().dropFirst("x-oss-meta-".count))] = f.value
        }
        return meta
    }

    /// Metadata of the whole object from HEAD or GET headers (for a ranged GET, the size
    /// comes from Content-Range's total).
    static func objectInfo(key: String, _ h: HTTPHeaders) throws(ObjectStoreError) -> ObjectInfo {
        var size: UInt64?
        if let range = h["Content-Range"], let slash = range.lastIndex(of: "/") {
            size = UInt64(range[range.index(after: slash)...])
        }
        if size == nil { size = h["Content-Length"].flatMap { UInt64($0) } }
        guard let size else { throw .invalidResponse("no Content-Length for \(key)") }
        return ObjectInfo(
            key: key, size: size, etag: try etag(h),
            lastModified: h["Last-Modified"].flatMap(HTTPDate.parseRFC1123),
            type: h["x-oss-object-type"].flatMap(ObjectType.init(rawValue:)) ?? .normal,
            crc64: crc64(h), contentType: h["Content-Type"], userMetadata: userMetadata(h),
            nextAppendPosition: h["x-oss-next-append-position"].flatMap { UInt64($0) },
            storageClass: h["x-oss-storage-class"])
    }

    /// Request headers that describe a new object.
    static func apply(_ options: WriteOptions, to headers: inout HTTPHeaders) {
        if let ct = options.contentType { headers.set("Content-Type", ct) }
        for (k, v) in options.userMetadata.sorted(by: { $0.key < $1.key }) { headers.set("x-oss-meta-\(k)", v) }
        if options.forbidOverwrite { headers.set("x-oss-forbid-overwrite", "true") }
    }

    /// Checks a server-reported CRC against ours; a missing header is not an error.
    static func verify(key: String, server: UInt64?, local: UInt64, enabled: Bool) throws(ObjectStoreError) {
        guard enabled, let server, server != local else { return }
        throw .checksumMismatch(key: key, expected: server, actual: local)
    }
}
