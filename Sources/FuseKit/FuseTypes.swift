// FuseKit's vocabulary: what a filesystem answers, as plain Swift values. It
// knows nothing of OSS; OSSMountCLI maps the VFS onto it.
#if canImport(Glibc)
import Glibc
#endif

/// An errno to answer with.
public struct FuseError: Error, Sendable, Equatable {
    public let errno: Int32
    public init(_ errno: Int32) { self.errno = errno }
}

public enum FuseFileKind: Sendable {
    case regular, directory, symlink

    var modeBits: mode_t {
        switch self {
        case .regular: S_IFREG
        case .directory: S_IFDIR
        case .symlink: S_IFLNK
        }
    }
}

public struct FuseAttributes: Sendable, Equatable {
    public var ino: UInt64
    public var kind: FuseFileKind
    /// Permission bits (0o7777).
    public var permissions: UInt32
    public var size: UInt64
    public var uid: UInt32
    public var gid: UInt32
    public var mtime: (seconds: Int64, nanoseconds: Int64)
    public var atime: (seconds: Int64, nanoseconds: Int64)
    public var ctime: (seconds: Int64, nanoseconds: Int64)
    public var links: UInt32

    public init(ino: UInt64, kind: FuseFileKind, permissions: UInt32, size: UInt64, uid: UInt32, gid: UInt32,
                mtime: (seconds: Int64, nanoseconds: Int64), atime: (seconds: Int64, nanoseconds: Int64)? = nil,
                ctime: (seconds: Int64, nanoseconds: Int64)? = nil, links: UInt32 = 1) {
        self.atime = atime ?? mtime
        self.ctime = ctime ?? mtime
        self.ino = ino
        self.kind = kind
        self.permissions = permissions
        self.size = size
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
        self.links = links
    }

    public static func == (a: FuseAttributes, b: FuseAttributes) -> Bool {
        a.ino == b.ino && a.kind == b.kind && a.permissions == b.permissions && a.size == b.size && a.uid == b.uid
            && a.gid == b.gid && a.mtime == b.mtime && a.atime == b.atime && a.ctime == b.ctime && a.links == b.links
    }

    var stat: stat {
        var s = Glibc.stat()
        s.st_ino = ino_t(ino)
        s.st_mode = kind.modeBits | mode_t(permissions & 0o7777)
        s.st_nlink = nlink_t(links)
        s.st_size = off_t(clamping: size)
        s.st_uid = uid
        s.st_gid = gid
        s.st_blksize = 1 << 20
        s.st_blocks = blkcnt_t(clamping: size / 512 + (size % 512 == 0 ? 0 : 1))  // no overflow near UInt64.max
        func ts(_ t: (seconds: Int64, nanoseconds: Int64)) -> timespec { timespec(tv_sec: Int(t.seconds), tv_nsec: Int(t.nanoseconds)) }
        s.st_mtim = ts(mtime)
        s.st_ctim = ts(ctime)
        s.st_atim = ts(atime)
        return s
    }
}

/// The answer to lookup (and to each readdirplus entry).
public struct FuseEntry: Sendable {
    public var attributes: FuseAttributes
    public var generation: UInt64
    /// Seconds the kernel may cache the name → inode binding and the attributes.
    public var entryTimeout: Double
    public var attributeTimeout: Double
    public init(attributes: FuseAttributes, generation: UInt64, entryTimeout: Double, attributeTimeout: Double) {
        self.attributes = attributes
        self.generation = generation
        self.entryTimeout = entryTimeout
        self.attributeTimeout = attributeTimeout
    }
}

public struct FuseDirectoryEntry: Sendable {
    public var name: String
    /// With readdirplus, the entry (its lookup count is taken by the kernel); else nil.
    public var entry: FuseEntry?
    public var ino: UInt64
    public var kind: FuseFileKind
    /// Opaque cookie: passing it back as the offset continues after this entry.
    public var nextOffset: Int64
    public init(name: String, ino: UInt64, kind: FuseFileKind, nextOffset: Int64, entry: FuseEntry? = nil) {
        self.name = name
        self.ino = ino
        self.kind = kind
        self.nextOffset = nextOffset
        self.entry = entry
    }
}

public struct FuseOpenResult: Sendable {
    public var handle: UInt64
    public var directIO: Bool
    public var keepCache: Bool
    /// The kernel need not send FLUSH when a descriptor of this handle closes (a
    /// read-only handle has nothing to report at close): one round trip less per file.
    public var noFlush: Bool
    public init(handle: UInt64, directIO: Bool = false, keepCache: Bool = false, noFlush: Bool = false) {
        self.handle = handle
        self.directIO = directIO
        self.keepCache = keepCache
        self.noFlush = noFlush
    }
}

/// Object storage has no fixed capacity: the defaults report a large, constant size
/// (1 PiB in 1 MiB blocks) so tools that check free space (cp, df, installers) proceed.
public struct FuseStatfs: Sendable {
    public var blockSize: UInt64 = 1 << 20
    public var blocks: UInt64 = 1 << 30
    public var blocksFree: UInt64 = 1 << 30
    public var files: UInt64 = 1 << 30
    public var filesFree: UInt64 = 1 << 30
    /// NAME_MAX: the one name-length rule of lookup, create and listing.
    public var nameMax: UInt64 = 255
    public init() {}
}

/// Who asked: the process a request comes from (fuse_req_ctx), readable as
/// `FuseCaller.current` while the request is served.
public struct FuseCaller: Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    @TaskLocal public static var current: FuseCaller?
}

/// What a setattr asks to change (nil: leave as is).
public struct FuseSetAttributes: Sendable {
    public var size: UInt64?
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    /// Seconds and nanoseconds since the epoch (no rounding through a double).
    public var mtime: (seconds: Int64, nanoseconds: Int32)?
    public var atime: (seconds: Int64, nanoseconds: Int32)?
    public init(size: UInt64? = nil, mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil,
                mtime: (seconds: Int64, nanoseconds: Int32)? = nil, atime: (seconds: Int64, nanoseconds: Int32)? = nil) {
        self.atime = atime
        self.size = size
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
    }
}
