// Value types shared by every ObjectClient: what an object is, how a byte range
// is written, what a listing page holds. Plain Swift values, no Foundation, so the
// VFS and the in-memory store use them without knowing about HTTP.

/// An entity tag as the server sends it, quotes included (`"5B3C…"`, `"…-3"`).
public struct ETag: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { value }
}

/// Seconds and nanoseconds since the Unix epoch, UTC.
public struct Timestamp: Hashable, Comparable, Sendable {
    public var seconds: Int64
    public var nanoseconds: Int32
    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
    public static func < (a: Timestamp, b: Timestamp) -> Bool {
        (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
    }
}

public enum ObjectType: String, Sendable, Hashable {
    case normal = "Normal", multipart = "Multipart", appendable = "Appendable", symlink = "Symlink"
}

/// A half-open byte range `[lowerBound, upperBound)`. On the wire it is
/// `bytes=lowerBound-(upperBound-1)`.
public struct ByteRange: Hashable, Sendable, CustomStringConvertible {
    public let lowerBound: UInt64
    public let upperBound: UInt64
    public init(_ lowerBound: UInt64, _ upperBound: UInt64) {
        precondition(lowerBound < upperBound, "empty byte range")
        self.lowerBound = lowerBound
        self.upperBound = upperBound
    }
    public init(offset: UInt64, length: UInt64) { self.init(offset, offset + length) }
    public var count: UInt64 { upperBound - lowerBound }
    public var headerValue: String { "bytes=\(lowerBound)-\(upperBound - 1)" }
    public var description: String { headerValue }
}

/// What HEAD (and the headers of GET) tell about one object.
public struct ObjectInfo: Hashable, Sendable {
    public var key: String
    public var size: UInt64
    public var etag: ETag
    public var lastModified: Timestamp?
    public var type: ObjectType
    public var crc64: UInt64?
    public var contentType: String?
    /// `x-oss-meta-*` values, keyed by the lower-cased name without the prefix.
    public var userMetadata: [String: String]
    /// For Appendable objects: where the next append must start.
    public var nextAppendPosition: UInt64?
    public var storageClass: String?

    public init(key: String, size: UInt64, etag: ETag, lastModified: Timestamp? = nil, type: ObjectType = .normal,
                crc64: UInt64? = nil, contentType: String? = nil, userMetadata: [String: String] = [:],
                nextAppendPosition: UInt64? = nil, storageClass: String? = nil) {
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.type = type
        self.crc64 = crc64
        self.contentType = contentType
        self.userMetadata = userMetadata
        self.nextAppendPosition = nextAppendPosition
        self.storageClass = storageClass
    }
}

/// One `<Contents>` entry of a listing.
public struct ObjectSummary: Hashable, Sendable {
    public var key: String
    public var size: UInt64
    public var etag: ETag
    public var lastModified: Timestamp?
    public var type: ObjectType
    public var storageClass: String?
    public init(key: String, size: UInt64, etag: ETag, lastModified: Timestamp? = nil, type: ObjectType = .normal,
                storageClass: String? = nil) {
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.type = type
        self.storageClass = storageClass
    }
}

public struct ListRequest: Hashable, Sendable {
    public var prefix: String
    public var delimiter: String?
    /// 1…1000; OSS's default is 100.
    public var maxKeys: Int
    public var continuationToken: String?
    public var startAfter: String?
    public init(prefix: String = "", delimiter: String? = "/", maxKeys: Int = 1000, continuationToken: String? = nil,
                startAfter: String? = nil) {
        self.prefix = prefix
        self.delimiter = delimiter
        self.maxKeys = maxKeys
        self.continuationToken = continuationToken
        self.startAfter = startAfter
    }
}

public struct ListPage: Hashable, Sendable {
    public var objects: [ObjectSummary]
    public var commonPrefixes: [String]
    public var isTruncated: Bool
    public var nextContinuationToken: String?
    public init(objects: [ObjectSummary] = [], commonPrefixes: [String] = [], isTruncated: Bool = false,
                nextContinuationToken: String? = nil) {
        self.objects = objects
        self.commonPrefixes = commonPrefixes
        self.isTruncated = isTruncated
        self.nextContinuationToken = nextContinuationToken
    }
}

/// Headers that describe a new object (PutObject, AppendObject at 0, InitiateMultipartUpload,
/// CopyObject with REPLACE, PutSymlink).
public struct WriteOptions: Hashable, Sendable {
    public var contentType: String?
    /// `x-oss-meta-*` values keyed by the name without the prefix.
    public var userMetadata: [String: String]
    /// `x-oss-forbid-overwrite: true`: fail with FileAlreadyExists rather than replace.
    public var forbidOverwrite: Bool
    public init(contentType: String? = nil, userMetadata: [String: String] = [:], forbidOverwrite: Bool = false) {
        self.contentType = contentType
        self.userMetadata = userMetadata
        self.forbidOverwrite = forbidOverwrite
    }
}

public struct WriteResult: Hashable, Sendable {
    public var etag: ETag
    public var crc64: UInt64?
    public init(etag: ETag, crc64: UInt64?) {
        self.etag = etag
        self.crc64 = crc64
    }
}

public struct AppendResult: Hashable, Sendable {
    public var nextPosition: UInt64
    public var crc64: UInt64?
    /// The object's ETag after the append (changes with every append).
    public var etag: ETag
    public init(nextPosition: UInt64, crc64: UInt64?, etag: ETag) {
        self.nextPosition = nextPosition
        self.crc64 = crc64
        self.etag = etag
    }
}

public enum MetadataDirective: Hashable, Sendable {
    /// Keep the source's metadata.
    case copy
    /// Replace it with these headers.
    case replace(WriteOptions)
}

public struct PartInfo: Hashable, Sendable {
    public var number: Int
    public var etag: ETag
    public var size: UInt64?
    public var crc64: UInt64?
    public init(number: Int, etag: ETag, size: UInt64? = nil, crc64: UInt64? = nil) {
        self.number = number
        self.etag = etag
        self.size = size
        self.crc64 = crc64
    }
}

public struct PartsPage: Hashable, Sendable {
    public var parts: [PartInfo]
    public var isTruncated: Bool
    public var nextPartNumberMarker: Int?
    public init(parts: [PartInfo], isTruncated: Bool, nextPartNumberMarker: Int?) {
        self.parts = parts
        self.isTruncated = isTruncated
        self.nextPartNumberMarker = nextPartNumberMarker
    }
}

public struct UploadSummary: Hashable, Sendable {
    public var key: String
    public var uploadId: String
    public var initiated: Timestamp?
    public init(key: String, uploadId: String, initiated: Timestamp?) {
        self.key = key
        self.uploadId = uploadId
        self.initiated = initiated
    }
}

public struct UploadsPage: Hashable, Sendable {
    public var uploads: [UploadSummary]
    public var isTruncated: Bool
    public var nextKeyMarker: String?
    public var nextUploadIdMarker: String?
    public init(uploads: [UploadSummary], isTruncated: Bool, nextKeyMarker: String?, nextUploadIdMarker: String?) {
        self.uploads = uploads
        self.isTruncated = isTruncated
        self.nextKeyMarker = nextKeyMarker
        self.nextUploadIdMarker = nextUploadIdMarker
    }
}

public struct SymlinkInfo: Hashable, Sendable {
    public var target: String
    public var etag: ETag
    public var lastModified: Timestamp?
    public var userMetadata: [String: String]
    public init(target: String, etag: ETag, lastModified: Timestamp? = nil, userMetadata: [String: String] = [:]) {
        self.target = target
        self.etag = etag
        self.lastModified = lastModified
        self.userMetadata = userMetadata
    }
}
