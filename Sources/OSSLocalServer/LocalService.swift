// The OSS semantics of osslocal, independent of the wire: which operation a
// request is, and each operation's effect on a bucket. The NIO handler parses,
// streams bodies into blobs and writes answers; everything it hands to
// `execute` runs off the event loop (it may fsync).
import Foundation
import Logging
import NIOCore
import OSSClient
import OSSCrypto

enum LocalOperation: String, Sendable {
    case listBuckets, headBucket, getBucketInfo, listObjectsV2, listObjectsV1, listUploads, deleteMultiple
    case headObject, getObject, getObjectMeta, putObject, copyObject, appendObject, deleteObject
    case initiateUpload, uploadPart, uploadPartCopy, completeUpload, abortUpload, listParts
    case putSymlink, getSymlink
    case assumeRoleWithOIDC

    /// Whether the request body is stored as object bytes (streamed to a blob) rather
    /// than read as a small document.
    var streamsBody: Bool { self == .putObject || self == .uploadPart || self == .appendObject }
}

/// A request body once received.
enum ReceivedBody: Sendable {
    case none
    case document([UInt8])
    case blob(id: String, size: Int64, md5: [UInt8], crc64: UInt64)
}

public final class LocalService: Sendable {
    let buckets: [String: BucketStore]
    let authenticator: Authenticator
    var sts: LocalSTS? { authenticator.sts }
    let region: String
    let logger: Logger
    let now: @Sendable () -> Double

    init(buckets: [String: BucketStore], authenticator: Authenticator, region: String, logger: Logger,
         now: @escaping @Sendable () -> Double) {
        self.buckets = buckets
        self.authenticator = authenticator
        self.region = region
        self.logger = logger
        self.now = now
    }

    /// Parts other than the last must be at least this big at Complete (100 KiB, as OSS).
    static let minimumPartSize: Int64 = 100 * 1024
    /// A single PUT may carry at most 5 GiB.
    static let maximumPutSize: Int64 = 5 << 30

    func bucket(_ r: ParsedRequest) throws(OSSError) -> BucketStore {
        guard let name = r.bucket, let b = buckets[name] else { throw .noSuchBucket() }
        return b
    }

    /// Decides the operation from method, address and query, as OSS routes them.
    func route(_ r: ParsedRequest) throws(OSSError) -> LocalOperation {
        let hasKey = !r.key.isEmpty
        switch (r.method, r.bucket != nil, hasKey) {
        case ("GET", false, _): return .listBuckets
        case ("POST", false, _) where sts != nil && r.queryValue("Action") == "AssumeRoleWithOIDC":
            return .assumeRoleWithOIDC
        case ("HEAD", true, false): return .headBucket
        case ("GET", true, false):
            if r.has("uploads") { return .listUploads }
            if r.queryValue("list-type") == "2" { return .listObjectsV2 }
            if r.has("bucketInfo") || r.has("location") { return .getBucketInfo }
            return .listObjectsV1
        case ("POST", true, false) where r.has("delete"): return .deleteMultiple
        case ("HEAD", true, true): return r.has("objectMeta") ? .getObjectMeta : .headObject
        case ("GET", true, true):
            if r.has("symlink") { return .getSymlink }
            if r.has("uploadId") { return .listParts }
            return .getObject
        case ("PUT", true, true):
            if r.has("symlink") { return .putSymlink }
            if r.has("partNumber") && r.has("uploadId") {
                return r.ossHeader("copy-source") != nil ? .uploadPartCopy : .uploadPart
            }
            return r.ossHeader("copy-source") != nil ? .copyObject : .putObject
        case ("POST", true, true):
            if r.has("uploads") { return .initiateUpload }
            if r.has("uploadId") { return .completeUpload }
            if r.has("append") { return .appendObject }
        case ("DELETE", true, true):
            return r.has("uploadId") ? .abortUpload : .deleteObject
        default: break
        }
        throw OSSError(405, "MethodNotAllowed", "The specified method is not allowed against this resource.", ec: "0000-00000005")
    }

    /// OSS's longest object name, in bytes of UTF-8.
    static let maximumKeyBytes = 1023

    func execute(_ op: LocalOperation, _ r: ParsedRequest, body: ReceivedBody) throws(OSSError) -> LocalResponse {
        if r.key.utf8.count > Self.maximumKeyBytes {
            throw OSSError(400, "InvalidObjectName", "The Length of Object name must be less than 1024")
        }
        if r.key.utf8.first == UInt8(ascii: "\\") {
            throw OSSError(400, "InvalidObjectName", "The specified object is not valid.")
        }
        switch op {
        case .listBuckets: return listBuckets()
        case .assumeRoleWithOIDC: return sts!.assumeRoleWithOIDC(r, body)
        case .headBucket: _ = try bucket(r); return LocalResponse(status: 200)
        case .getBucketInfo: return try bucketInfo(r)
        case .listObjectsV2: return try listObjects(r, v2: true)
        case .listObjectsV1: return try listObjects(r, v2: false)
        case .listUploads: return try listUploads(r)
        case .deleteMultiple: return try deleteMultiple(r, body)
        case .headObject: return try getObject(r, head: true)
        case .getObject: return try getObject(r, head: false)
        case .getObjectMeta: return try objectMeta(r)
        case .putObject: return try putObject(r, body)
        case .copyObject: return try copyObject(r)
        case .appendObject: return try appendObject(r, body)
        case .deleteObject: return try deleteObject(r)
        case .initiateUpload: return try initiateUpload(r)
        case .uploadPart: return try uploadPart(r, body)
        case .uploadPartCopy: return try uploadPartCopy(r)
        case .completeUpload: return try completeUpload(r, body)
        case .abortUpload: return try abortUpload(r)
        case .listParts: return try listParts(r)
        case .putSymlink: return try putSymlink(r)
        case .getSymlink: return try getSymlink(r)
        }
    }

    func run(_ op: LocalOperation, _ r: ParsedRequest, body: ReceivedBody) -> Result<LocalResponse, OSSError> {
        do { return .success(try execute(op, r, body: body)) } catch { return .failure(error) }
    }

    // MARK: shared helpers

    func timestamp() -> Int64 { Int64(now()) }

    static func quotedMD5(_ md5: [UInt8]) -> String { "\"" + Hex.upper(md5) + "\"" }

    /// Headers describing an object, as HEAD and GET send them.
    func objectHeaders(_ o: ObjectRecord, s3: Bool) -> [(String, String)] {
        var h: [(String, String)] = [
            ("ETag", o.etag), ("Last-Modified", HTTPDate.rfc1123(o.lastModified)), ("Content-Type", o.contentType),
            ("x-oss-object-type", o.type), ("x-oss-hash-crc64ecma", String(o.crc64)),
            ("x-oss-storage-class", "Standard"), ("Accept-Ranges", "bytes"),
        ]
        if o.type == "Appendable" { h.append(("x-oss-next-append-position", String(o.size))) }
        for (k, v) in o.userMetadata.sorted(by: { $0.key < $1.key }) {
            h.append(("x-oss-meta-" + k, v))
            if s3 { h.append(("x-amz-meta-" + k, v)) }
        }
        return h
    }

    /// Checks Content-MD5 (when sent) against the body's MD5.
    static func checkMD5(_ r: ParsedRequest, _ md5: [UInt8]) throws(OSSError) {
        guard let sent = r.header("Content-MD5") else { return }
        guard Base64.decode(sent) == md5 else {
            throw OSSError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.", ec: "0016-00000401")
        }
    }

    /// Parses `x-oss-copy-source: /bucket/key[?versionId=..]` (URL-encoded).
    func copySource(_ r: ParsedRequest) throws(OSSError) -> (BucketStore, String) {
        var raw = r.ossHeader("copy-source") ?? ""
        if let q = raw.firstIndex(of: "?") { raw = String(raw[..<q]) }
        let decoded = URIEncoding.decode(raw)
        let trimmed = decoded.hasPrefix("/") ? decoded.dropFirst() : Substring(decoded)
        guard let slash = trimmed.firstIndex(of: "/") else {
            throw .invalidArgument("Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.")
        }
        guard let b = buckets[String(trimmed[..<slash])] else { throw .noSuchBucket() }
        return (b, String(trimmed[trimmed.index(after: slash)...]))
    }

    /// A metadata-bearing new record from the request headers.
    func newRecord(_ r: ParsedRequest, key: String, size: Int64, etag: String, type: String, crc64: UInt64,
                   blob: String?) -> ObjectRecord {
        ObjectRecord(key: key, size: size, etag: etag, type: type, lastModified: timestamp(),
                     contentType: r.header("Content-Type") ?? "application/octet-stream",
                     userMetadata: r.userMetadata, crc64: crc64, blob: blob, symlinkTarget: nil)
    }

    func wrap<T>(_ body: () throws -> T) throws(OSSError) -> T {
        do { return try body() } catch let e as OSSError { throw e } catch { throw .internalError("\(error)") }
    }
}
