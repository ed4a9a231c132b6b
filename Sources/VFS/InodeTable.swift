// Inodes: numbers handed to the kernel, each bound to one object key (a file
// "a/b.txt" or a directory prefix "a/"), with the kernel's lookup count. An
// inode whose count drops to zero is forgotten (except the root), so a walk over
// millions of keys keeps only what the kernel still holds; a forgotten file's
// attributes stay in `forgotten` (ForgottenFiles) for the rest of their timeout, and a
// lookup then binds them to a new number. Numbers are never reused, so the
// generation stays 1.
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
    /// Files the kernel forgot, by key; none of them is in `byKey`.
    private(set) var forgotten: ForgottenFiles

    init(root: Inode, forgottenCapacity: Int = 0) {
        forgotten = ForgottenFiles(capacity: forgottenCapacity)
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
        forgotten.drop(key)
        return node
    }

    /// A file the kernel forgot, bound to a new inode with one lookup; nil when none
    /// was kept for `key` or its attributes are `ttl` old. The kernel dropped its pages
    /// with the inode.
    mutating func revive(_ key: String, now: Double, ttl: Double) -> Inode? {
        guard let f = forgotten.take(key, now: now, ttl: ttl) else { return nil }
        let ino = nextIno
        nextIno += 1
        var attributes = f.attributes
        attributes.ino = ino
        let node = Inode(ino: ino, key: key, kind: f.kind, attributes: attributes, etag: f.etag,
                         validatedAt: f.validatedAt, lookups: 1, fromListing: f.fromListing)
        inodes[ino] = node
        byKey[ByteKey(key)] = ino
        return node
    }

    /// Keeps a forgotten file's attributes (see ForgottenFiles); the key must be unbound.
    mutating func keepForgotten(_ node: Inode) {
        guard let etag = node.etag, byKey[ByteKey(node.key)] == nil else { return }
        forgotten.keep(node.key, ForgottenFiles.File(kind: node.kind, attributes: node.attributes, etag: etag,
                                                     validatedAt: node.validatedAt, fromListing: node.fromListing))
    }

    /// The object at `key`, or everything under it as a prefix, changed through this mount.
    mutating func dropForgotten(_ key: String, prefix: Bool) {
        if prefix { forgotten.drop(prefix: key) } else { forgotten.drop(key) }
    }

    /// Moves inodes to new keys: `map` returns the new key for a key that moves, else nil.
    mutating func rekey(_ map: (String) -> String?) {
        var moves: [(InodeNumber, String, String)] = []
        for (key, ino) in byKey { if let new = map(key.string) { moves.append((ino, key.string, new)) } }
        for (ino, old, new) in moves {
            guard let node = inodes[ino] else { continue }
            byKey[ByteKey(old)] = nil
            byKey[ByteKey(new)] = ino  // a replaced destination's inode loses its key
            forgotten.drop(new)
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

    /// Drops `count` kernel references; the inode goes when none remain. Returns it
    /// then, when it was still bound to its key.
    @discardableResult
    mutating func forget(_ ino: InodeNumber, count: UInt64) -> Inode? {
        guard ino != Self.rootIno, var node = inodes[ino] else { return nil }
        node.lookups = node.lookups > count ? node.lookups - count : 0
        guard node.lookups == 0 else {
            inodes[ino] = node
            return nil
        }
        inodes[ino] = nil
        guard byKey[ByteKey(node.key)] == ino else { return nil }
        byKey[ByteKey(node.key)] = nil
        return node
    }
}
