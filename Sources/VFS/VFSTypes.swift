// The VFS's own vocabulary: inode numbers, file attributes, directory entries,
// errors. No fuse_* type appears here; FuseKit's types are mapped in OSSMountCLI.
import ObjectStore

public typealias InodeNumber = UInt64

public enum FileKind: Sendable, Equatable {
    case file, directory, symlink
}

public struct FileAttributes: Sendable, Equatable {
    public var ino: InodeNumber
    public var kind: FileKind
    public var size: UInt64
    /// Permission bits only (0o7777).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var mtime: Timestamp
    /// Access and change times (as stored in x-oss-meta-atime / -ctime; mtime when absent).
    public var atime: Timestamp
    public var ctime: Timestamp
    public init(ino: InodeNumber, kind: FileKind, size: UInt64, mode: UInt32, uid: UInt32, gid: UInt32, mtime: Timestamp,
                atime: Timestamp? = nil, ctime: Timestamp? = nil) {
        self.atime = atime ?? mtime
        self.ctime = ctime ?? mtime
        self.ino = ino
        self.kind = kind
        self.size = size
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
    }
}

/// The answer to a lookup: attributes plus how long the kernel may keep them.
public struct Entry: Sendable, Equatable {
    public var attributes: FileAttributes
    public var generation: UInt64
    public var entryTimeout: Double
    public var attributeTimeout: Double
}

public struct DirectoryEntry: Sendable, Equatable {
    public var name: String
    public var ino: InodeNumber
    public var kind: FileKind
    /// Pass back as the offset to continue after this entry.
    public var nextOffset: Int64
    /// Set for readdirplus.
    public var entry: Entry?
}

public struct VFSConfig: Sendable {
    /// Key prefix the mount shows ("" for the whole bucket, else ending in "/").
    public var prefix = ""
    public var attrTimeout = 60.0
    public var entryTimeout = 60.0
    /// How long "no such file" is remembered; 0 asks OSS every time.
    public var negativeTimeout = 0.0
    /// Files whose attributes are kept after the kernel forgot their inodes, for the
    /// rest of `entryTimeout` (`max_stat_cache_size`; 0: none).
    public var statCacheSize = 100_000
    /// Revalidate a file's ETag on every open, so a reader sees the newest object.
    public var closeToOpen = false
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    /// New files belong to the process that creates them (`VFS.caller`), unless the
    /// `uid`/`gid` options fixed the owner.
    public var uidFromCaller = true
    public var gidFromCaller = true
    /// Permission bits for objects without `x-oss-meta-mode`, before `umask`.
    public var fileMode: UInt32 = 0o644
    public var dirMode: UInt32 = 0o755
    public var umask: UInt32 = 0o022
    /// Keys per ListObjectsV2 page (1000 is the OSS maximum: fewest round trips).
    public var listPageSize = 1000
    /// Let the kernel keep file pages across opens while the ETag is unchanged.
    public var keepCache = true
    public var readOnly = true
    /// Prefetch chunk size: one ranged GET each. 8 MiB amortizes a request's latency
    /// on OSS (tens of ms) against a transfer of tens of ms at ~1 Gbit/s per stream.
    public var prefetchChunkSize = 8 << 20
    /// The local data cache (`cache_dir`), when there is one.
    public var chunkCache: (any ChunkCache)?
    /// The block a random read fetches, the rest of it going to the kernel's page cache
    /// (`random_fill`; 0: a random read fetches just its bytes).
    public var randomFill = 1 << 20
    /// Where that rest goes; nil: nowhere (then random reads fetch just their bytes).
    public var kernelPageCache: (any KernelPageCache)?
    /// Most chunks one reader fetches ahead (and so GETs in flight per file).
    public var prefetchConcurrency = 8
    /// Most prefetch GETs in flight for the whole mount (ossfs 2.0's
    /// `prefetch_concurrency`); memory (`totalMemLimit`) bounds them too.
    public var prefetchBudget = 256
    /// Bound on all prefetch and upload memory together.
    public var totalMemLimit = 1 << 30
    /// Multipart part size for files written front to back.
    public var uploadBufferSize = 8 << 20
    /// Parts of one file uploaded at once.
    public var uploadConcurrency = 4
    /// Where files being edited (not written front to back) are staged.
    public var stagingDirectory = "/tmp"
    /// Most bytes all staging files together may hold (0: no limit beyond the disk).
    public var stagingMax: UInt64 = 0
    /// Keep a copy of a streamed file's uploaded parts in the staging directory, so a
    /// later seek back still works.
    public var seekableWrites = true
    /// Most bytes of one streamed file kept for seek-backs; past it the copy is dropped
    /// and a seek back gets ENOTSUP. Nil: the smaller of 4 GiB and a quarter of the
    /// staging directory's free space at mount.
    public var seekableMax: UInt64?
    /// Where Content-Types of new objects come from (extension -> type).
    public var mimeTypesFile: String? = "/etc/mime.types"
    /// Extended attributes (`user.*` as x-oss-meta-xattr); off: ENOSYS, so the kernel
    /// stops asking.
    public var xattr = true
    /// fsync does not upload (close still does).
    public var ignoreFsync = false
    /// New files are Appendable objects, appended to as they are written.
    public var appendMode = false
    /// How often pending appends are sent (0: only when a part's worth is pending, at
    /// fsync and at close).
    public var appendFlushInterval = 1.0
    /// Answer lookups from a listing read ahead of them once several in a directory
    /// had to ask OSS (see ListAhead).
    public var listAhead = true
    public init() {}
}

/// Errors the VFS reports; mapped to errno in one place (VFSError+Errno.swift).
public enum VFSError: Error, Sendable, Equatable {
    case notFound
    case notDirectory
    case isDirectory
    /// The object changed under an open handle.
    case stale
    case accessDenied
    case readOnly
    case invalidArgument
    case nameTooLong
    case badHandle
    case notEmpty
    case exists
    /// The staging directory is full.
    case noSpace
    /// No such extended attribute.
    case noAttribute
    /// Not supported (yet): e.g. a write that is not at the end of a file being written.
    case notSupported
    /// Switched off by configuration (extended attributes under `no_xattr`).
    case notImplemented
    /// Past what the object type can hold (an Appendable object: 5 GB).
    case tooLarge
    /// The store failed (network, service error, corrupt answer).
    case io(String)
}
