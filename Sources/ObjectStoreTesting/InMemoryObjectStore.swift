// InMemoryObjectStore: an ObjectClient held in memory that honours the OSS
// contract closely enough to test the VFS against it: ETags change on every
// write (MD5 for Normal objects, `-N` suffixes for multipart), CRC-64 on every
// object, append positions, multipart part rules, symlinks, conditional reads,
// and byte-ordered listing with delimiters and continuation.
import ObjectStore
import OSSCrypto
import Synchronization

public final class InMemoryObjectStore: ObjectClient {
    struct StoredObject {
        var data: [UInt8]
        var etag: ETag
        var type: ObjectType
        var lastModified: Timestamp
        var contentType: String?
        var userMetadata: [String: String]
        var symlinkTarget: String?
        var crc64: UInt64
    }

    struct Upload {
        var key: String
        var options: WriteOptions
        var parts: [Int: (data: [UInt8], etag: ETag)]
        var initiated: Timestamp
    }

    struct State {
        var objects: [String: StoredObject] = [:]
        /// Keys in byte order, for listing.
        var sortedKeys: [String] = []
        var uploads: [String: Upload] = [:]
        var nextId = 1
    }

    let state = Mutex(State())
    /// GETs started by `startGetObject` while `holdStartedGets` holds them.
    let heldGets = Mutex<(holding: Bool, waiting: [@Sendable () -> Void])>((false, []))
    let now: @Sendable () -> Timestamp

    /// Smallest size of a part other than the last, as on OSS (100 KiB).
    public static let minimumPartSize = 100 * 1024

    public init(now: @escaping @Sendable () -> Timestamp = { Timestamp(seconds: 1_704_164_645) }) {
        self.now = now
    }

    // MARK: helpers shared by the operations

    static func error(_ status: Int, _ code: String, _ message: String = "") -> ObjectStoreError {
        .service(ServiceError(status: status, code: code, message: message, requestId: "inmemory"))
    }

    static func md5ETag(_ data: [UInt8]) -> ETag { ETag("\"" + Hex.upper(Digest.md5(data)) + "\"") }

    static func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// Stores `object` under `key`, keeping `sortedKeys` in order.
    static func store(_ s: inout State, _ key: String, _ object: StoredObject) {
        if s.objects.updateValue(object, forKey: key) == nil {
            s.sortedKeys.insert(key, at: insertionIndex(s.sortedKeys, key))
        }
    }

    static func remove(_ s: inout State, _ key: String) {
        guard s.objects.removeValue(forKey: key) != nil else { return }
        s.sortedKeys.remove(at: insertionIndex(s.sortedKeys, key))
    }

    /// First index whose key is not before `key`.
    static func insertionIndex(_ keys: [String], _ key: String) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if byteOrder(keys[mid], key) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    func newObject(_ data: [UInt8], type: ObjectType, options: WriteOptions, etag: ETag? = nil) -> StoredObject {
        StoredObject(data: data, etag: etag ?? Self.md5ETag(data), type: type, lastModified: now(),
                     contentType: options.contentType ?? "application/octet-stream",
                     userMetadata: options.userMetadata, symlinkTarget: nil, crc64: CRC64.checksum(data))
    }

    /// The object a read of `key` sees: symlinks resolved one level, as OSS does.
    static func resolve(_ s: State, _ key: String) throws(ObjectStoreError) -> (StoredObject, link: StoredObject?) {
        guard let o = s.objects[key] else { throw error(404, "NoSuchKey", "The specified key does not exist.") }
        guard o.type == .symlink, let target = o.symlinkTarget else { return (o, nil) }
        guard let t = s.objects[target] else { throw error(404, "SymlinkTargetNotExist") }
        return (t, o)
    }

    static func info(_ key: String, _ o: StoredObject, link: StoredObject?) -> ObjectInfo {
        ObjectInfo(key: key, size: UInt64(o.data.count), etag: link?.etag ?? o.etag,
                   lastModified: link?.lastModified ?? o.lastModified, type: link == nil ? o.type : .symlink,
                   crc64: o.crc64, contentType: o.contentType, userMetadata: link?.userMetadata ?? o.userMetadata,
                   nextAppendPosition: o.type == .appendable ? UInt64(o.data.count) : nil, storageClass: "Standard")
    }

    // MARK: direct access for tests (the "other client" writing the bucket)

    /// Every key, in byte order.
    public var keys: [String] { state.withLock { $0.sortedKeys } }

    /// The bytes of `key`, without any checks; nil when absent.
    public func contents(of key: String) -> [UInt8]? { state.withLock { $0.objects[key]?.data } }

    public var pendingUploadCount: Int { state.withLock { $0.uploads.count } }
}
