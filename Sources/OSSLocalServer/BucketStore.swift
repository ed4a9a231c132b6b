// One bucket: object records (metadata plus the blob holding the bytes), a
// byte-ordered key index for listing, and multipart uploads in progress.
// With a directory, every change is committed by an atomic rename of a small
// JSON record after the blob it names was fsynced, so a kill -9 leaves each key
// either as it was or as it was going to be; blobs no record names are
// removed at the next start.
import ObjectStore
import Foundation
import NIOCore
import OSSCrypto
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct ObjectRecord: Codable, Sendable {
    var key: String
    var size: Int64
    var etag: String
    var type: String
    var lastModified: Int64
    var contentType: String
    var userMetadata: [String: String]
    var crc64: UInt64
    var blob: String?
    var symlinkTarget: String?
}

struct PartRecord: Codable, Sendable {
    var number: Int
    var blob: String
    var size: Int64
    var etag: String
    var crc64: UInt64
    var lastModified: Int64
}

struct UploadRecord: Codable, Sendable {
    var uploadId: String
    var key: String
    var initiated: Int64
    var contentType: String
    var userMetadata: [String: String]
    var forbidOverwrite: Bool
    var parts: [Int: PartRecord]
}

final class BucketStore: Sendable {
    let name: String
    let blobs: BlobStore
    /// nil in memory mode.
    let directory: String?

    struct State {
        var objects: [ByteKey: ObjectRecord] = [:]
        var index = KeyIndex()
        var uploads: [String: UploadRecord] = [:]
    }
    let state = Mutex(State())

    init(name: String, directory: String?) throws {
        self.name = name
        self.directory = directory
        if let directory {
            for sub in ["objects", "uploads"] {
                try FileManager.default.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true)
            }
            blobs = try DiskBlobStore(directory: directory + "/data")
            try load(directory)
        } else {
            blobs = MemoryBlobStore()
        }
    }

    // MARK: persistence

    private func recordPath(_ key: String) -> String? {
        directory.map { $0 + "/objects/" + Hex.lower(Digest.sha256(Array(key.utf8))) + ".json" }
    }

    private func uploadPath(_ id: String) -> String? { directory.map { $0 + "/uploads/" + id + ".json" } }

    /// Writes `data` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
    private static func commit(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BlobError(description: "create \(tmp): \(String(cString: strerror(errno)))") }
        let ok = data.withUnsafeBytes { p in write(fd, p.baseAddress, p.count) == p.count } && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else { throw BlobError(description: "commit \(path): \(String(cString: strerror(errno)))") }
        syncDirectory(of: path)
    }

    private static func syncDirectory(of path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    func persist(_ record: ObjectRecord) throws {
        guard let path = recordPath(record.key) else { return }
        try Self.commit(try JSONEncoder().encode(record), to: path)
    }

    func unpersist(key: String) {
        guard let path = recordPath(key) else { return }
        unlink(path)
        Self.syncDirectory(of: path)
    }

    func persist(_ upload: UploadRecord) throws {
        guard let path = uploadPath(upload.uploadId) else { return }
        try Self.commit(try JSONEncoder().encode(upload), to: path)
    }

    func unpersist(uploadId: String) {
        guard let path = uploadPath(uploadId) else { return }
        unlink(path)
    }

    private func load(_ directory: String) throws {
        let fm = FileManager.default
        var referenced = Set<String>()
        var s = State()
        for sub in ["objects", "uploads"] {
            for name in try fm.contentsOfDirectory(atPath: directory + "/" + sub) {
                let path = directory + "/" + sub + "/" + name
                if name.hasSuffix(".tmp") {
                    unlink(path)
                    continue
                }
                guard let data = fm.contents(atPath: path) else { continue }
                if sub == "objects", let r = try? JSONDecoder().decode(ObjectRecord.self, from: data) {
                    s.objects[ByteKey(r.key)] = r
                    s.index.insert(r.key)
                    if let b = r.blob { referenced.insert(b) }
                } else if let u = try? JSONDecoder().decode(UploadRecord.self, from: data) {
                    s.uploads[u.uploadId] = u
                    for p in u.parts.values { referenced.insert(p.blob) }
                }
            }
        }
        // Blobs of uploads killed mid-body, or of objects replaced just before a crash.
        for id in blobs.allIds() where !referenced.contains(id) { blobs.delete(id) }
        state.withLock { $0 = s }
    }
}

/// Keys in UTF-8 byte order. Inserts and removals are batched and merged at the
/// next read, so loading or writing many keys costs one sort, not one shift each.
struct KeyIndex {
    private var sorted: [String] = []
    private var added: Set<ByteKey> = []
    private var removed: Set<ByteKey> = []

    static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    mutating func insert(_ key: String) {
        if removed.remove(ByteKey(key)) == nil { added.insert(ByteKey(key)) }
    }

    mutating func remove(_ key: String) {
        if added.remove(ByteKey(key)) == nil { removed.insert(ByteKey(key)) }
    }

    /// The keys, merged and in order.
    mutating func keys() -> [String] {
        if !added.isEmpty || !removed.isEmpty {
            // Keys added that were not there already (found by binary search, not a set of all).
            let fresh = added.map(\.string).filter { !contains($0) }.sorted(by: Self.precedes)
            var merged: [String] = []
            merged.reserveCapacity(sorted.count + fresh.count)
            var i = 0, j = 0
            while i < sorted.count || j < fresh.count {
                if j == fresh.count || (i < sorted.count && Self.precedes(sorted[i], fresh[j])) {
                    if !removed.contains(ByteKey(sorted[i])) { merged.append(sorted[i]) }
                    i += 1
                } else {
                    merged.append(fresh[j])
                    j += 1
                }
            }
            sorted = merged
            added.removeAll()
            removed.removeAll()
        }
        return sorted
    }

    /// First position of `sorted` (as merged last) whose key is not before `key`.
    private func position(_ key: String) -> Int {
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Self.precedes(sorted[mid], key) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    private func contains(_ key: String) -> Bool {
        let i = position(key)
        return i < sorted.count && sorted[i].bytesEqual(key)
    }

}
