// Serves the VFS through FuseKit: maps VFS values to FuseKit values and VFS
// errors to the errno the VFS chose, logging the failures users did not cause.
import FuseKit
import Logging
import ObjectStore
import VFS

struct FuseAdapter: FuseFilesystem {
    let vfs: VFS
    let directIO: Bool
    let metrics: MountMetrics

    static func kind(_ k: FileKind) -> FuseFileKind {
        switch k {
        case .file: .regular
        case .directory: .directory
        case .symlink: .symlink
        }
    }

    static func attributes(_ a: FileAttributes) -> FuseAttributes {
        func t(_ t: Timestamp) -> (seconds: Int64, nanoseconds: Int64) { (t.seconds, Int64(t.nanoseconds)) }
        return FuseAttributes(ino: a.ino, kind: kind(a.kind), permissions: a.mode, size: a.size, uid: a.uid, gid: a.gid,
                              mtime: t(a.mtime), atime: t(a.atime), ctime: t(a.ctime), links: a.kind == .directory ? 2 : 1)
    }

    static func entry(_ e: Entry) -> FuseEntry {
        FuseEntry(attributes: attributes(e.attributes), generation: e.generation, entryTimeout: e.entryTimeout,
                  attributeTimeout: e.attributeTimeout)
    }

    /// What a request is about, for its log line.
    enum Subject {
        case inode(UInt64)
        case entry(parent: UInt64, name: String)
    }

    /// Runs a VFS call as the process the request came from (new files are theirs). A
    /// failure a user did not cause (EIO, EACCES, ESTALE, ENOSPC, EFBIG) is logged here,
    /// once, with the operation, the key, the errno and the store's code and request id.
    func run<T>(_ subject: Subject, op: String = #function, _ body: () async throws(VFSError) -> T)
        async throws(FuseError) -> T
    {
        let caller = FuseCaller.current.map { Owner(uid: $0.uid, gid: $0.gid) }
        let record = FailureRecord()
        let result: Result<T, VFSError> = await VFS.$caller.withValue(caller) {
            await VFS.$failure.withValue(record) {
                do throws(VFSError) { return .success(try await body()) } catch { return .failure(error) }
            }
        }
        switch result {
        case .success(let value):
            return value
        case .failure(let error):
            let name = String(op.prefix { $0 != "(" })  // "lookup(parent:name:)" → "lookup"
            metrics.failed(name, errno: error.errno)
            log(error, op: name, subject: subject, cause: record.error)
            throw FuseError(error.errno)
        }
    }

    func log(_ error: VFSError, op: String, subject: Subject, cause: ObjectStoreError?) {
        let errno = error.errno
        guard [EIO, EACCES, ESTALE, ENOSPC, EFBIG].contains(errno) else { return }
        let key: String = switch subject {
        case .inode(let ino): vfs.key(of: ino) ?? "inode \(ino)"
        case .entry(let parent, let name): (vfs.key(of: parent) ?? "inode \(parent)/") + name
        }
        var metadata: Logger.Metadata = ["op": "\(op)", "key": "\(key)",
                                         "errno": "\(errno) (\(String(cString: strerror(errno))))"]
        if let cause {
            metadata["error"] = "\(cause)"
            if case .service(let e) = cause {
                metadata["code"] = "\(e.code)"
                metadata["request_id"] = "\(e.requestId ?? "-")"
            }
        } else if case .io(let why) = error {
            metadata["error"] = "\(why)"
        }
        vfs.logger.log(level: errno == EIO ? .error : .warning, "operation failed", metadata: metadata)
    }

    func lookup(parent: UInt64, name: String) async throws(FuseError) -> FuseEntry {
        Self.entry(try await run(.entry(parent: parent, name: name)) { () async throws(VFSError) in
            try await vfs.lookup(parent: parent, name: name)
        })
    }

    func cachedLookup(parent: UInt64, name: String) -> Result<FuseEntry, FuseError>? {
        vfs.cachedLookup(parent: parent, name: name).map { $0.map(Self.entry).mapError { FuseError($0.errno) } }
    }

    func forget(_ ino: UInt64, count: UInt64) { vfs.forget(ino, count: count) }

    func getattr(_ ino: UInt64) async throws(FuseError) -> (FuseAttributes, timeout: Double) {
        let (a, t) = try await run(.inode(ino)) { () async throws(VFSError) in try await vfs.getattr(ino) }
        return (Self.attributes(a), t)
    }

    func cachedAttributes(_ ino: UInt64) -> (FuseAttributes, timeout: Double)? {
        vfs.cachedAttributes(ino).map { (Self.attributes($0.0), $0.timeout) }
    }

    func immediateXattrError(_ ino: UInt64, name: String) -> FuseError? {
        vfs.xattrAnswerWithoutIO(name).map { FuseError($0.errno) }
    }

    func readlink(_ ino: UInt64) async throws(FuseError) -> String {
        try await run(.inode(ino)) { () async throws(VFSError) in try await vfs.readlink(ino) }
    }

    func opendir(_ ino: UInt64) async throws(FuseError) -> UInt64 {
        try await run(.inode(ino)) { () async throws(VFSError) in try await vfs.opendir(ino) }
    }

    static func directoryEntry(_ e: DirectoryEntry) -> FuseDirectoryEntry {
        FuseDirectoryEntry(name: e.name, ino: e.ino, kind: kind(e.kind), nextOffset: e.nextOffset,
                           entry: e.entry.map(entry))
    }

    func readdir(_ ino: UInt64, handle: UInt64, offset: Int64, plus: Bool, add: (FuseDirectoryEntry) -> Bool)
        async throws(FuseError)
    {
        try await run(.inode(ino)) { () async throws(VFSError) in
            try await vfs.readdir(ino, handle: handle, offset: offset, plus: plus) { add(Self.directoryEntry($0)) }
        }
    }

    func immediateReaddir(_ ino: UInt64, handle: UInt64, offset: Int64, plus: Bool,
                          add: (FuseDirectoryEntry) -> Bool) -> Bool {
        vfs.readdirWithoutIO(ino, handle: handle, offset: offset, plus: plus) { add(Self.directoryEntry($0)) }
    }

    func releasedir(_ ino: UInt64, handle: UInt64) async { vfs.releasedir(handle) }

    static func writable(_ flags: Int32) -> Bool { flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0 }

    func open(_ ino: UInt64, flags: Int32) async throws(FuseError) -> FuseOpenResult {
        let writable = Self.writable(flags)
        let (h, keep) = try await run(.inode(ino)) { () async throws(VFSError) in
            try await vfs.open(ino, writable: writable, truncate: flags & O_TRUNC != 0)
        }
        return FuseOpenResult(handle: h, directIO: directIO, keepCache: keep, noFlush: !writable)
    }

    func immediateOpen(_ ino: UInt64, flags: Int32) -> FuseOpenResult? {
        guard !Self.writable(flags), let (h, keep) = vfs.openWithoutIO(ino) else { return nil }
        return FuseOpenResult(handle: h, directIO: directIO, keepCache: keep, noFlush: true)
    }

    func immediateRelease(_ ino: UInt64, handle: UInt64) -> Bool { vfs.releaseWithoutIO(handle) }

    func create(parent: UInt64, name: String, mode: UInt32, flags: Int32) async throws(FuseError)
        -> (FuseEntry, FuseOpenResult)
    {
        let (e, h) = try await run(.entry(parent: parent, name: name)) { () async throws(VFSError) in
            try await vfs.create(parent: parent, name: name, mode: mode)
        }
        return (Self.entry(e), FuseOpenResult(handle: h, directIO: directIO))
    }

    func write(_ ino: UInt64, handle: UInt64, offset: Int64, data: [UInt8]) async throws(FuseError) -> Int {
        let written = try await run(.inode(ino)) { () async throws(VFSError) in
            try await vfs.write(handle, offset: offset, bytes: data)
        }
        metrics.fuseWrittenBytes.increment(by: written)
        return written
    }

    func immediateWrite(_ ino: UInt64, handle: UInt64, offset: Int64, data: UnsafeRawBufferPointer) -> Int? {
        guard let written = vfs.writeWithoutIO(handle, offset: offset, bytes: data) else { return nil }
        metrics.fuseWrittenBytes.increment(by: written)
        return written
    }

    func flush(_ ino: UInt64, handle: UInt64) async throws(FuseError) {
        try await run(.inode(ino)) { () async throws(VFSError) in try await vfs.flush(handle) }
    }

    func fsync(_ ino: UInt64, handle: UInt64) async throws(FuseError) {
        try await run(.inode(ino)) { () async throws(VFSError) in try await vfs.fsync(handle) }
    }

    func setattr(_ ino: UInt64, _ c: FuseSetAttributes, handle: UInt64?) async throws(FuseError)
        -> (FuseAttributes, timeout: Double)
    {
        let change = AttributeChange(size: c.size, mode: c.mode, uid: c.uid, gid: c.gid,
                                     mtime: c.mtime.map { Timestamp(seconds: $0.seconds, nanoseconds: $0.nanoseconds) },
                                     atime: c.atime.map { Timestamp(seconds: $0.seconds, nanoseconds: $0.nanoseconds) })
        let a = try await run(.inode(ino)) { () async throws(VFSError) in
            try await vfs.setattr(ino, change, handle: handle)
        }
        return (Self.attributes(a), vfs.attributeTimeout)
    }

    func symlink(target: String, parent: UInt64, name: String) async throws(FuseError) -> FuseEntry {
        Self.entry(try await run(.entry(parent: parent, name: name)) { () async throws(VFSError) in
            try await vfs.symlink(target: target, parent: parent, name: name)
        })
    }

    func setxattr(_ ino: UInt64, name: String, value: [UInt8], flags: Int32) async throws(FuseError) {
        try await run(.inode(ino)) { () async throws(VFSError) in
            try await vfs.setxattr(ino, name: name, value: value, create: flags & 1 != 0, replace: flags & 2 != 0)
        }
    }

    func getxattr(_ ino: UInt64, name: String) async throws(FuseError) -> [UInt8] {
        if ino == 1 && name == MountMetrics.statsAttribute { return Array(metrics.statsText(vfs).utf8) }
        return try await run(.inode(ino)) { () async throws(VFSError) in try await vfs.getxattr(ino, name: name) }
    }

    func listxattr(_ ino: UInt64) async throws(FuseError) -> [String] {
        try await run(.inode(ino)) { () async throws(VFSError) in try await vfs.listxattr(ino) }
    }

    func removexattr(_ ino: UInt64, name: String) async throws(FuseError) {
        try await run(.inode(ino)) { () async throws(VFSError) in try await vfs.removexattr(ino, name: name) }
    }

    func rename(parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32) async throws(FuseError) {
        try await run(.entry(parent: parent, name: name)) { () async throws(VFSError) in
            try await vfs.rename(parent: parent, name: name, newParent: newParent, newName: newName,
                                 noReplace: flags & 1 != 0, exchange: flags & 2 != 0)
        }
    }

    func mkdir(parent: UInt64, name: String, mode: UInt32) async throws(FuseError) -> FuseEntry {
        Self.entry(try await run(.entry(parent: parent, name: name)) { () async throws(VFSError) in
            try await vfs.mkdir(parent: parent, name: name, mode: mode)
        })
    }

    func mknod(parent: UInt64, name: String, mode: UInt32) async throws(FuseError) -> FuseEntry {
        Self.entry(try await run(.entry(parent: parent, name: name)) { () async throws(VFSError) in
            try await vfs.mknod(parent: parent, name: name, mode: mode)
        })
    }

    func unlink(parent: UInt64, name: String) async throws(FuseError) {
        try await run(.entry(parent: parent, name: name)) { () async throws(VFSError) in
            try await vfs.unlink(parent: parent, name: name)
        }
    }

    func rmdir(parent: UInt64, name: String) async throws(FuseError) {
        try await run(.entry(parent: parent, name: name)) { () async throws(VFSError) in
            try await vfs.rmdir(parent: parent, name: name)
        }
    }

    func read(_ ino: UInt64, handle: UInt64, offset: Int64, size: Int) async throws(FuseError) -> any FuseReadBuffer {
        try await counted(ino) { () async throws(VFSError) in try await vfs.read(handle, offset: offset, size: size) }
    }

    func immediateRead(_ ino: UInt64, handle: UInt64, offset: Int64, size: Int) -> FuseImmediateRead {
        switch vfs.readNow(handle, offset: offset, size: size) {
        case .done(let data)?:
            metrics.fuseReadBytes.increment(by: data.count)
            return .reply(data)
        case .later(let finish)?:
            return .later { () async throws(FuseError) -> any FuseReadBuffer in try await counted(ino, finish) }
        case .whenArrived(let wait, let finish)?:
            let bytes = metrics.fuseReadBytes
            return .whenArrived({ deliver in
                wait { data in
                    if let data { bytes.increment(by: data.count) }
                    deliver(data)
                }
            }, otherwise: { () async throws(FuseError) -> any FuseReadBuffer in try await counted(ino, finish) })
        case nil:
            return .later { () async throws(FuseError) -> any FuseReadBuffer in
                try await read(ino, handle: handle, offset: offset, size: size)
            }
        }
    }

    /// A read's bytes, its failure logged once and its size counted.
    private func counted(_ ino: UInt64, _ body: () async throws(VFSError) -> ReadData) async throws(FuseError) -> ReadData {
        let data = try await run(.inode(ino), op: "read", body)
        metrics.fuseReadBytes.increment(by: data.count)
        return data
    }

    func release(_ ino: UInt64, handle: UInt64) async { await vfs.release(handle) }

    func statfs(_ ino: UInt64) async -> FuseStatfs { FuseStatfs() }  // nameMax 255: VFS.validName's rule
}

extension ReadData: FuseReadBuffer {}

/// The VFS's page fills, stored through the FUSE session.
struct KernelPageCacheAdapter: KernelPageCache {
    let cache: FuseKernelCache
    func offer(_ ino: InodeNumber, offset: UInt64, _ data: ReadData, valid: @escaping @Sendable () -> Bool) {
        cache.offer(ino, offset: offset, data, valid: valid)
    }
    func invalidate(_ ino: InodeNumber, then done: @escaping @Sendable () -> Void) {
        cache.invalidate(ino, then: done)
    }
}

#if canImport(Glibc)
import Glibc
#endif
