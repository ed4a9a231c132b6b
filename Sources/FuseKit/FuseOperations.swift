// The low-level ops table: one @convention(c) callback per operation. Each copies
// what it needs out of the kernel's arguments, starts a Task on the filesystem,
// and returns at once; the Task sends the reply from whatever thread it ends on.
import CFuse3
#if canImport(Glibc)
import Glibc
#endif

enum FuseOperations {
    /// A name (or link target) from the kernel as a String, or nil with EILSEQ replied when
    /// its bytes are not UTF-8: OSS keys are UTF-8, and a repaired copy (U+FFFD for each bad
    /// byte) would make different names one key, so a second file would replace the first.
    static func name(_ req: OpaquePointer?, _ bytes: UnsafePointer<CChar>?) -> String? {
        if let s = String(validatingCString: bytes!) { return s }
        fuse_reply_err(req, EILSEQ)
        return nil
    }

    static func context(_ req: OpaquePointer?) -> FuseContext {
        // Safety: the session was created with an unretained FuseContext that the
        // FuseSession keeps alive for as long as requests can arrive.
        Unmanaged<FuseContext>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
    }

    /// Runs `body` in a Task, as the request's caller (FuseCaller.current), and answers
    /// its FuseError, if any.
    static func serve(_ req: OpaquePointer?, _ body: @escaping @Sendable (FuseRequest, FuseFilesystem) async throws(FuseError) -> Void) {
        // Safety: fuse_req_ctx points into the request, valid until it is answered; read now.
        let caller = fuse_req_ctx(req).map { FuseCaller(uid: $0.pointee.uid, gid: $0.pointee.gid, pid: $0.pointee.pid) }
        serve(FuseRequest(req!), context(req).filesystem, caller: caller, body)
    }

    /// Answers `r` from a Task running `body`; a thrown error is the reply.
    static func serve(_ r: FuseRequest, _ fs: FuseFilesystem, caller: FuseCaller?,
                      _ body: @escaping @Sendable (FuseRequest, FuseFilesystem) async throws(FuseError) -> Void) {
        Task {
            await FuseCaller.$current.withValue(caller) {
                do throws(FuseError) { try await body(r, fs) } catch { r.error(error.errno) }
            }
        }
    }

    static func table() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let userdata, let conn else { return }
            let options = Unmanaged<FuseContext>.fromOpaque(userdata).takeUnretainedValue().options
            conn.pointee.max_write = options.maxIO
            conn.pointee.max_read = options.maxIO  // must equal the max_read mount option
            conn.pointee.max_readahead = options.maxIO
            let wanted = UInt32(FUSE_CAP_ASYNC_READ) | UInt32(FUSE_CAP_PARALLEL_DIROPS) | UInt32(FUSE_CAP_ATOMIC_O_TRUNC)
                | (options.readdirplus ? UInt32(FUSE_CAP_READDIRPLUS) : 0)
            conn.pointee.want |= wanted & conn.pointee.capable
            if !options.readdirplus { conn.pointee.want &= ~UInt32(FUSE_CAP_READDIRPLUS) }
            conn.pointee.want &= ~UInt32(FUSE_CAP_READDIRPLUS_AUTO)
        }
        ops.lookup = { req, parent, name in
            guard let n = FuseOperations.name(req, name) else { return }
            switch FuseOperations.context(req).filesystem.cachedLookup(parent: parent, name: n) {
            case .success(let e)?: FuseRequest(req!).entry(e)
            case .failure(let e)?: FuseRequest(req!).error(e.errno)
            case nil:
                FuseOperations.serve(req) { r, fs throws(FuseError) in r.entry(try await fs.lookup(parent: parent, name: n)) }
            }
        }
        ops.forget = { req, ino, count in
            FuseOperations.context(req).filesystem.forget(ino, count: count)
            fuse_reply_none(req)
        }
        ops.forget_multi = { req, count, items in
            let fs = FuseOperations.context(req).filesystem
            for i in 0..<count { fs.forget(items![i].ino, count: items![i].nlookup) }
            fuse_reply_none(req)
        }
        ops.getattr = { req, ino, _ in
            if let (a, timeout) = FuseOperations.context(req).filesystem.cachedAttributes(ino) {
                FuseRequest(req!).attr(a, timeout: timeout)
                return
            }
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                let (a, timeout) = try await fs.getattr(ino)
                r.attr(a, timeout: timeout)
            }
        }
        ops.readlink = { req, ino in
            FuseOperations.serve(req) { r, fs throws(FuseError) in r.readlink(try await fs.readlink(ino)) }
        }
        ops.opendir = { req, ino, _ in
            FuseOperations.serve(req) { r, fs throws(FuseError) in r.open(FuseOpenResult(handle: try await fs.opendir(ino))) }
        }
        ops.readdir = { req, ino, size, off, fi in FuseOperations.readdir(req, ino, size, off, fi, plus: false) }
        ops.readdirplus = { req, ino, size, off, fi in FuseOperations.readdir(req, ino, size, off, fi, plus: true) }
        ops.releasedir = { req, ino, fi in
            let fh = fi!.pointee.fh
            FuseOperations.serve(req) { r, fs in
                await fs.releasedir(ino, handle: fh)
                r.error(0)
            }
        }
        ops.open = { req, ino, fi in
            let flags = fi!.pointee.flags
            if let o = FuseOperations.context(req).filesystem.immediateOpen(ino, flags: flags) {
                FuseRequest(req!).open(o)
                return
            }
            FuseOperations.serve(req) { r, fs throws(FuseError) in r.open(try await fs.open(ino, flags: flags)) }
        }
        ops.read = { req, ino, size, off, fi in
            let fh = fi!.pointee.fh
            switch FuseOperations.context(req).filesystem.immediateRead(ino, handle: fh, offset: Int64(off), size: size) {
            case .reply(let data):
                data.withPieces { FuseRequest(req!).pieces($0) }
            case .later(let finish):
                FuseOperations.serve(req) { r, _ throws(FuseError) in
                    let data = try await finish()
                    data.withPieces { r.pieces($0) }
                }
            case .whenArrived(let wait, let otherwise):
                let r = FuseRequest(req!), fs = FuseOperations.context(req).filesystem
                wait { data in
                    if let data { return data.withPieces { r.pieces($0) } }
                    FuseOperations.serve(r, fs, caller: nil) { r, _ throws(FuseError) in
                        try await otherwise().withPieces { r.pieces($0) }
                    }
                }
            }
        }
        ops.release = { req, ino, fi in
            let fh = fi!.pointee.fh
            if FuseOperations.context(req).filesystem.immediateRelease(ino, handle: fh) {
                FuseRequest(req!).error(0)
                return
            }
            FuseOperations.serve(req) { r, fs in
                await fs.release(ino, handle: fh)
                r.error(0)
            }
        }
        ops.statfs = { req, ino in
            FuseOperations.serve(req) { r, fs in r.statfs(await fs.statfs(ino)) }
        }
        ops.create = { req, parent, name, mode, fi in
            guard let n = FuseOperations.name(req, name) else { return }
            let flags = fi!.pointee.flags
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                let (e, o) = try await fs.create(parent: parent, name: n, mode: UInt32(mode), flags: flags)
                r.create(e, o)
            }
        }
        ops.write = { req, ino, buf, size, off, fi in
            let fh = fi!.pointee.fh
            let context = FuseOperations.context(req)
            // Safety: the kernel's buffer holds `size` bytes and is valid during this call only.
            let bytes = UnsafeRawBufferPointer(start: buf, count: size)
            if let n = context.filesystem.immediateWrite(ino, handle: fh, offset: Int64(off), data: bytes) {
                FuseRequest(req!).written(n)
                return
            }
            // Copied out first, into an array that is reused once the write is done.
            let buffers = context.writeBuffers
            let lease = buffers.filled(with: bytes)
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                r.written(try await fs.write(ino, handle: fh, offset: Int64(off), data: lease.bytes))
            }
        }
        ops.flush = { req, ino, fi in
            let fh = fi!.pointee.fh
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                try await fs.flush(ino, handle: fh)
                r.error(0)
            }
        }
        ops.fsync = { req, ino, _, fi in
            let fh = fi!.pointee.fh
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                try await fs.fsync(ino, handle: fh)
                r.error(0)
            }
        }
        ops.setattr = { req, ino, attr, toSet, fi in
            let a = attr!.pointee
            var changes = FuseSetAttributes()
            if toSet & FUSE_SET_ATTR_SIZE != 0 { changes.size = UInt64(a.st_size) }
            if toSet & FUSE_SET_ATTR_MODE != 0 { changes.mode = UInt32(a.st_mode) & 0o7777 }
            if toSet & FUSE_SET_ATTR_UID != 0 { changes.uid = a.st_uid }
            if toSet & FUSE_SET_ATTR_GID != 0 { changes.gid = a.st_gid }
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            if toSet & FUSE_SET_ATTR_MTIME_NOW != 0 {
                changes.mtime = (Int64(now.tv_sec), Int32(now.tv_nsec))
            } else if toSet & FUSE_SET_ATTR_MTIME != 0 {
                changes.mtime = (Int64(a.st_mtim.tv_sec), Int32(a.st_mtim.tv_nsec))
            }
            if toSet & FUSE_SET_ATTR_ATIME_NOW != 0 {
                changes.atime = (Int64(now.tv_sec), Int32(now.tv_nsec))
            } else if toSet & FUSE_SET_ATTR_ATIME != 0 {
                changes.atime = (Int64(a.st_atim.tv_sec), Int32(a.st_atim.tv_nsec))
            }
            let fh = fi?.pointee.fh
            let requested = changes
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                let (attrs, t) = try await fs.setattr(ino, requested, handle: fh)
                r.attr(attrs, timeout: t)
            }
        }
        ops.mkdir = { req, parent, name, mode in
            guard let n = FuseOperations.name(req, name) else { return }
            FuseOperations.serve(req) { r, fs throws(FuseError) in r.entry(try await fs.mkdir(parent: parent, name: n, mode: UInt32(mode))) }
        }
        ops.unlink = { req, parent, name in
            guard let n = FuseOperations.name(req, name) else { return }
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                try await fs.unlink(parent: parent, name: n)
                r.error(0)
            }
        }
        ops.rmdir = { req, parent, name in
            guard let n = FuseOperations.name(req, name) else { return }
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                try await fs.rmdir(parent: parent, name: n)
                r.error(0)
            }
        }
        ops.symlink = { req, link, parent, name in
            guard let target = FuseOperations.name(req, link) else { return }
            guard let n = FuseOperations.name(req, name) else { return }
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                r.entry(try await fs.symlink(target: target, parent: parent, name: n))
            }
        }
        ops.rename = { req, parent, name, newParent, newName, flags in
            guard let a = FuseOperations.name(req, name), let b = FuseOperations.name(req, newName) else { return }
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                try await fs.rename(parent: parent, name: a, newParent: newParent, newName: b, flags: flags)
                r.error(0)
            }
        }
        ops.setxattr = { req, ino, name, value, size, flags in
            guard let n = FuseOperations.name(req, name) else { return }
            let v = [UInt8](UnsafeRawBufferPointer(start: value, count: size))
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                try await fs.setxattr(ino, name: n, value: v, flags: flags)
                r.error(0)
            }
        }
        ops.getxattr = { req, ino, name, size in
            guard let n = FuseOperations.name(req, name) else { return }
            if let e = FuseOperations.context(req).filesystem.immediateXattrError(ino, name: n) {
                FuseRequest(req!).error(e.errno)
                return
            }
            FuseOperations.serve(req) { r, fs throws(FuseError) in r.xattr(try await fs.getxattr(ino, name: n), requested: size) }
        }
        ops.listxattr = { req, ino, size in
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                let names = try await fs.listxattr(ino)
                r.xattr(names.flatMap { Array($0.utf8) + [0] }, requested: size)
            }
        }
        ops.removexattr = { req, ino, name in
            guard let n = FuseOperations.name(req, name) else { return }
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                try await fs.removexattr(ino, name: n)
                r.error(0)
            }
        }
        // Regular files only: device nodes and FIFOs have no object form; hard links neither.
        ops.mknod = { req, parent, name, mode, _ in
            guard mode & S_IFMT == S_IFREG else {
                fuse_reply_err(req, ENOTSUP)
                return
            }
            guard let n = FuseOperations.name(req, name) else { return }
            FuseOperations.serve(req) { r, fs throws(FuseError) in
                r.entry(try await fs.mknod(parent: parent, name: n, mode: UInt32(mode) & 0o7777))
            }
        }
        ops.link = { req, _, _, _ in fuse_reply_err(req, EPERM) }
        return ops
    }

    /// Fills one reply buffer with as many entries as fit.
    /// readdir(plus): answered on the FUSE thread when the entries are already listed,
    /// else from a Task (which may have to list a page first).
    static func readdir(_ req: fuse_req_t?, _ ino: UInt64, _ size: Int, _ off: off_t,
                        _ fi: UnsafeMutablePointer<fuse_file_info>?, plus: Bool) {
        let fh = fi!.pointee.fh
        let reply = DirectoryReply(req!, size: size, plus: plus)
        if context(req).filesystem.immediateReaddir(ino, handle: fh, offset: Int64(off), plus: plus, add: reply.add) {
            reply.send(FuseRequest(req!))
            return
        }
        serve(req) { r, fs throws(FuseError) in
            let reply = DirectoryReply(r.req, size: size, plus: plus)
            try await fs.readdir(ino, handle: fh, offset: Int64(off), plus: plus, add: reply.add)
            reply.send(r)
        }
    }
}

/// A readdir reply being filled, entry by entry, until the kernel's buffer is full.
final class DirectoryReply {
    private let req: OpaquePointer
    private let plus: Bool
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0

    init(_ req: OpaquePointer, size: Int, plus: Bool) {
        self.req = req
        self.plus = plus
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
    }

    deinit { buffer.deallocate() }

    /// False when the entry does not fit (it is not added).
    func add(_ e: FuseDirectoryEntry) -> Bool {
        let room = buffer.count - used
        // Safety: fuse_add_direntry(_plus) writes at most `room` bytes at buffer+used and
        // returns the size it needs; an entry that does not fit is not written.
        let base = buffer.baseAddress!.advanced(by: used).assumingMemoryBound(to: CChar.self)
        let needed: Int
        if plus, let entry = e.entry {
            var param = FuseRequest.param(entry)
            needed = fuse_add_direntry_plus(req, base, room, e.name, &param, off_t(e.nextOffset))
        } else {
            var st = stat()
            st.st_ino = ino_t(e.ino)
            st.st_mode = e.kind.modeBits
            needed = fuse_add_direntry(req, base, room, e.name, &st, off_t(e.nextOffset))
        }
        guard needed <= room else { return false }
        used += needed
        return true
    }

    func send(_ r: FuseRequest) { r.buffer(UnsafeRawBufferPointer(rebasing: buffer[0..<used])) }
}
