#if canImport(Glibc)
import Glibc
#endif

// The filesystem FuseKit serves. Every method but `forget` answers one kernel
// request; FuseKit calls it from a Task and sends exactly one reply with its
// result (or its FuseError), so an implementation never touches a fuse_req_t.

public protocol FuseFilesystem: Sendable {
    func lookup(parent: UInt64, name: String) async throws(FuseError) -> FuseEntry
    /// `lookup`'s answer when it needs no I/O (nil: FuseKit calls `lookup`). Called on
    /// the FUSE thread, like `cachedAttributes`.
    func cachedLookup(parent: UInt64, name: String) -> Result<FuseEntry, FuseError>?
    /// The kernel dropped `count` references to `ino` (no reply).
    func forget(_ ino: UInt64, count: UInt64)
    func getattr(_ ino: UInt64) async throws(FuseError) -> (FuseAttributes, timeout: Double)
    /// `getattr`'s answer when it needs no I/O (nil: FuseKit calls `getattr`). Called on
    /// the FUSE thread, so a cached answer costs no Task.
    func cachedAttributes(_ ino: UInt64) -> (FuseAttributes, timeout: Double)?
    /// The error `getxattr` gives `name` without any I/O, if it does (`ls -l` asks every
    /// file for security.* and system.* names).
    func immediateXattrError(_ ino: UInt64, name: String) -> FuseError?
    func readlink(_ ino: UInt64) async throws(FuseError) -> String
    func opendir(_ ino: UInt64) async throws(FuseError) -> UInt64
    /// Entries after `offset`, handed to `add` until it returns false (the reply is full).
    /// With `plus`, an entry counts as looked up only when `add` accepted it.
    func readdir(_ ino: UInt64, handle: UInt64, offset: Int64, plus: Bool,
                 add: (FuseDirectoryEntry) -> Bool) async throws(FuseError)
    /// `readdir` when the entries after `offset` are at hand (or the listing is over):
    /// true when it handed them to `add` (the reply is sent as is); false, before
    /// adding any, when that needs I/O. FUSE thread.
    func immediateReaddir(_ ino: UInt64, handle: UInt64, offset: Int64, plus: Bool,
                          add: (FuseDirectoryEntry) -> Bool) -> Bool
    func releasedir(_ ino: UInt64, handle: UInt64) async
    func open(_ ino: UInt64, flags: Int32) async throws(FuseError) -> FuseOpenResult
    /// `open`'s answer when it needs no I/O (nil: FuseKit calls `open`); FUSE thread.
    func immediateOpen(_ ino: UInt64, flags: Int32) -> FuseOpenResult?
    /// Releases `handle` at once when that needs no I/O (true); else FuseKit calls
    /// `release`. FUSE thread.
    func immediateRelease(_ ino: UInt64, handle: UInt64) -> Bool
    func read(_ ino: UInt64, handle: UInt64, offset: Int64, size: Int) async throws(FuseError) -> any FuseReadBuffer
    /// A read begun in the FUSE thread (which may block on local disk): its reply now, or
    /// the rest to await in a Task (by default, all of `read`).
    func immediateRead(_ ino: UInt64, handle: UInt64, offset: Int64, size: Int) -> FuseImmediateRead
    func release(_ ino: UInt64, handle: UInt64) async
    func statfs(_ ino: UInt64) async -> FuseStatfs

    // Writing. The defaults answer EROFS, for read-only filesystems.
    func create(parent: UInt64, name: String, mode: UInt32, flags: Int32) async throws(FuseError)
        -> (FuseEntry, FuseOpenResult)
    func write(_ ino: UInt64, handle: UInt64, offset: Int64, data: [UInt8]) async throws(FuseError) -> Int
    /// A write done at once from the kernel's buffer (no copy out, no Task), or nil to use `write`.
    func immediateWrite(_ ino: UInt64, handle: UInt64, offset: Int64, data: UnsafeRawBufferPointer) -> Int?
    /// close(2) of a descriptor: its error is close's error.
    func flush(_ ino: UInt64, handle: UInt64) async throws(FuseError)
    func fsync(_ ino: UInt64, handle: UInt64) async throws(FuseError)
    func setattr(_ ino: UInt64, _ changes: FuseSetAttributes, handle: UInt64?) async throws(FuseError)
        -> (FuseAttributes, timeout: Double)
    func symlink(target: String, parent: UInt64, name: String) async throws(FuseError) -> FuseEntry
    func setxattr(_ ino: UInt64, name: String, value: [UInt8], flags: Int32) async throws(FuseError)
    func getxattr(_ ino: UInt64, name: String) async throws(FuseError) -> [UInt8]
    func listxattr(_ ino: UInt64) async throws(FuseError) -> [String]
    func removexattr(_ ino: UInt64, name: String) async throws(FuseError)
    /// `flags`: RENAME_NOREPLACE (1), RENAME_EXCHANGE (2).
    func rename(parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32) async throws(FuseError)
    func mkdir(parent: UInt64, name: String, mode: UInt32) async throws(FuseError) -> FuseEntry
    /// mknod of a regular file (other node types are refused before this is called).
    func mknod(parent: UInt64, name: String, mode: UInt32) async throws(FuseError) -> FuseEntry
    func unlink(parent: UInt64, name: String) async throws(FuseError)
    func rmdir(parent: UInt64, name: String) async throws(FuseError)
}

extension FuseFilesystem {
    public func cachedAttributes(_ ino: UInt64) -> (FuseAttributes, timeout: Double)? { nil }
    public func cachedLookup(parent: UInt64, name: String) -> Result<FuseEntry, FuseError>? { nil }
    public func immediateOpen(_ ino: UInt64, flags: Int32) -> FuseOpenResult? { nil }
    public func immediateReaddir(_ ino: UInt64, handle: UInt64, offset: Int64, plus: Bool,
                                 add: (FuseDirectoryEntry) -> Bool) -> Bool { false }
    public func immediateRelease(_ ino: UInt64, handle: UInt64) -> Bool { false }
    public func immediateXattrError(_ ino: UInt64, name: String) -> FuseError? { nil }
    public func immediateRead(_ ino: UInt64, handle: UInt64, offset: Int64, size: Int) -> FuseImmediateRead {
        .later { () async throws(FuseError) -> any FuseReadBuffer in try await read(ino, handle: handle, offset: offset, size: size) }
    }
    public func immediateWrite(_ ino: UInt64, handle: UInt64, offset: Int64, data: UnsafeRawBufferPointer) -> Int? { nil }
    public func create(parent: UInt64, name: String, mode: UInt32, flags: Int32) async throws(FuseError)
        -> (FuseEntry, FuseOpenResult)
    { throw FuseError(EROFS) }
    public func write(_ ino: UInt64, handle: UInt64, offset: Int64, data: [UInt8]) async throws(FuseError) -> Int {
        throw FuseError(EROFS)
    }
    public func flush(_ ino: UInt64, handle: UInt64) async throws(FuseError) {}
    public func fsync(_ ino: UInt64, handle: UInt64) async throws(FuseError) {}
    public func setattr(_ ino: UInt64, _ changes: FuseSetAttributes, handle: UInt64?) async throws(FuseError)
        -> (FuseAttributes, timeout: Double)
    { throw FuseError(EROFS) }
    public func symlink(target: String, parent: UInt64, name: String) async throws(FuseError) -> FuseEntry {
        throw FuseError(EROFS)
    }
    public func rename(parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32)
        async throws(FuseError)
    { throw FuseError(EROFS) }
    public func setxattr(_ ino: UInt64, name: String, value: [UInt8], flags: Int32) async throws(FuseError) {
        throw FuseError(ENOTSUP)
    }
    public func getxattr(_ ino: UInt64, name: String) async throws(FuseError) -> [UInt8] { throw FuseError(ENOTSUP) }
    public func listxattr(_ ino: UInt64) async throws(FuseError) -> [String] { [] }
    public func removexattr(_ ino: UInt64, name: String) async throws(FuseError) { throw FuseError(ENOTSUP) }
    public func mkdir(parent: UInt64, name: String, mode: UInt32) async throws(FuseError) -> FuseEntry { throw FuseError(EROFS) }
    public func mknod(parent: UInt64, name: String, mode: UInt32) async throws(FuseError) -> FuseEntry { throw FuseError(EROFS) }
    public func unlink(parent: UInt64, name: String) async throws(FuseError) { throw FuseError(EROFS) }
    public func rmdir(parent: UInt64, name: String) async throws(FuseError) { throw FuseError(EROFS) }
}

/// How a read begun in the FUSE thread goes on.
public enum FuseImmediateRead: Sendable {
    case reply(any FuseReadBuffer)
    case later(@Sendable () async throws(FuseError) -> any FuseReadBuffer)
    /// The bytes are on their way: `wait` calls its argument once, from whatever thread
    /// they arrive on (the reply is sent from there, no Task), or with nil: then
    /// `otherwise` answers, in a Task.
    case whenArrived(_ wait: @Sendable (@escaping @Sendable ((any FuseReadBuffer)?) -> Void) -> Void,
                     otherwise: @Sendable () async throws(FuseError) -> any FuseReadBuffer)
}

/// The bytes of a read reply, possibly in several pieces of memory the
/// filesystem owns (prefetched chunks): sent with one writev, never copied here.
public protocol FuseReadBuffer: Sendable {
    func withPieces<R>(_ body: ([UnsafeRawBufferPointer]) -> R) -> R
}

extension Array: FuseReadBuffer where Element == UInt8 {
    public func withPieces<R>(_ body: ([UnsafeRawBufferPointer]) -> R) -> R { withUnsafeBytes { body([$0]) } }
}

/// What the kernel connection is set up with (FUSE_INIT).
public struct FuseConnectionOptions: Sendable {
    public var readdirplus = true
    /// Largest read and write the kernel sends, and its readahead (1 MiB: the largest
    /// the kernel allows with max_pages, so fewer round trips per MiB).
    public var maxIO: UInt32 = 1 << 20
    public var maxThreads: UInt32 = 16
    public init() {}
}
