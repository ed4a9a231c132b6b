// Inodes: numbers handed to the kernel, each bound to one object key (a file
// "a/b.txt" or a directory prefix "a/"), with the kernel's lookup count. An
// inode whose count drops to zero is forgotten (except the root), so a walk over
// millions of keys keeps only what the kernel still holds. Numbers are never
// reused, so the generation stays 1.
import ObjectStore

struct Inode: Sendable {
    let ino: InodeNumber
    /// Full object key; directories end with "/" (the root: the mount prefix).
    let key: String
    var kind: FileKind
    var attributes: FileAttributes
    /// ETag of the object, for files (pins reads of open handles).
    var etag: ETag?
    /// When the attributes were last confirmed, on the VFS clock.
    var validatedAt: Double
    var lookups: UInt64
    /// The attributes come from a listing, which carries no user metadata: mode and
    /// owner are the defaults until a HEAD fetches them (getattr asks OSS, so the
    /// kernel's GETATTR before an exec of a file without an x bit sees its real mode).
    var fromListing = false
    /// What the kernel's page cache may hold of the file: an open keeps it only when it
    /// holds the bytes of the object the file is now.
    var kernelPages = KernelPages.none
}

/// Whose bytes the kernel's page cache may hold of a file.
enum KernelPages: Equatable, Sendable {
    /// None: the file was never opened here.
    case none
    /// The object with this ETag's (the last open's).
    case of(ETag)
    /// Bytes written here, now stored under an ETag they may not all match.
    case unknown
}

struct InodeTable: Sendable {
    static let rootIno: InodeNumber = 1
    private(set) var inodes: [InodeNumber: Inode] = [:]
    private var byKey: [ByteKey: InodeNumber] = [:]
    private var nextIno: InodeNumber = 2

    init(root: Inode) {
        inodes[root.ino] = root
        byKey[ByteKey(root.key)] = root.ino
    }

    subscript(ino: InodeNumber) -> Inode? {
        get { inodes[ino] }
        set { inodes[ino] = newValue }
    }

    func ino(forKey key: String) -> InodeNumber? { byKey[ByteKey(key)] }

    /// The number plain readdir shows for a name with no inode: FNV-1a of the key with
    /// the top bit set, which allocated numbers (counting up from 2) never reach.
    static func unlistedIno(_ key: String) -> InodeNumber {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h | (1 << 63)
    }

    var count: Int { inodes.count }

    /// The inode for `key`, created (with `make`) when new; its attributes refreshed
    /// otherwise. `lookups` is added to its count.
    mutating func upsert(key: String, lookups: UInt64, make: (InodeNumber) -> Inode,
                         update: (inout Inode) -> Void) -> Inode {
        if let ino = byKey[ByteKey(key)], var node = inodes[ino] {
            update(&node)
            node.lookups += lookups
            inodes[ino] = node
            return node
        }
        let ino = nextIno
        nextIno += 1
        var node = make(ino)
        node.lookups = lookups
        inodes[ino] = node
        byKey[ByteKey(key)] = ino
        return node
    }

    /// Moves inodes to new keys: `map` returns the new key for a key that moves, else nil.
    mutating func rekey(_ map: (String) -> String?) {
        var moves: [(InodeNumber, String, String)] = []
        for (key, ino) in byKey { if let new = map(key.string) { moves.append((ino, key.string, new)) } }
        for (ino, old, new) in moves {
            guard let node = inodes[ino] else { continue }
            byKey[ByteKey(old)] = nil
            byKey[ByteKey(new)] = ino  // a replaced destination's inode loses its key
            inodes[ino] = Inode(ino: ino, key: new, kind: node.kind, attributes: node.attributes, etag: node.etag,
                                validatedAt: node.validatedAt, lookups: node.lookups, fromListing: node.fromListing,
                                kernelPages: node.kernelPages)
        }
    }

    /// Unbinds an inode from its key (the object is gone); the kernel may still forget it.
    mutating func detach(_ ino: InodeNumber) {
        guard let node = inodes[ino], byKey[ByteKey(node.key)] == ino else { return }
        byKey[ByteKey(node.key)] = nil
    }

    /// Drops `count` kernel references; the inode goes when none remain.
    mutating func forget(_ ino: InodeNumber, count: UInt64) {
        guard ino != Self.rootIno, var node = inodes[ino] else { return }
        node.lookups = node.lookups > count ? node.lookups - count : 0
        if node.lookups == 0 {
            inodes[ino] = nil
            if byKey[ByteKey(node.key)] == ino { byKey[ByteKey(node.key)] = nil }
        } else {
            inodes[ino] = node
        }
    }
}
