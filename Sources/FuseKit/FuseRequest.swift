// One kernel request and its reply. A request is answered exactly once: the
// first reply wins, a second one is a programming error (trapped), and a
// request dropped without an answer is answered EIO from deinit so the
// caller in the kernel never hangs.
import CFuse3
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

final class FuseRequest: @unchecked Sendable {
    // Safety: fuse_req_t may be replied to from any thread (libfuse documents this);
    // `replied` makes sure it happens once.
    let req: OpaquePointer
    private let replied = Atomic<Bool>(false)

    init(_ req: OpaquePointer) { self.req = req }

    private func claim() -> Bool {
        let (exchanged, _) = replied.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
        precondition(exchanged, "FUSE request answered twice")
        return exchanged
    }

    func error(_ errno: Int32) {
        guard claim() else { return }
        fuse_reply_err(req, errno)
    }

    func entry(_ e: FuseEntry) {
        guard claim() else { return }
        var param = Self.param(e)
        fuse_reply_entry(req, &param)
    }

    static func param(_ e: FuseEntry) -> fuse_entry_param {
        var param = fuse_entry_param()
        param.ino = e.attributes.ino
        param.generation = e.generation
        param.attr = e.attributes.stat
        param.attr_timeout = e.attributeTimeout
        param.entry_timeout = e.entryTimeout
        return param
    }

    func create(_ e: FuseEntry, _ o: FuseOpenResult) {
        guard claim() else { return }
        var param = Self.param(e)
        var fi = fuse_file_info()
        fi.fh = o.handle
        fi.direct_io = o.directIO ? 1 : 0
        fi.keep_cache = o.keepCache ? 1 : 0
        fuse_reply_create(req, &param, &fi)
    }

    func written(_ count: Int) {
        guard claim() else { return }
        fuse_reply_write(req, count)
    }

    func attr(_ a: FuseAttributes, timeout: Double) {
        guard claim() else { return }
        var s = a.stat
        fuse_reply_attr(req, &s, timeout)
    }

    func readlink(_ target: String) {
        guard claim() else { return }
        fuse_reply_readlink(req, target)
    }

    func open(_ o: FuseOpenResult) {
        guard claim() else { return }
        var fi = fuse_file_info()
        fi.fh = o.handle
        fi.direct_io = o.directIO ? 1 : 0
        fi.keep_cache = o.keepCache ? 1 : 0
        fi.noflush = o.noFlush ? 1 : 0
        fuse_reply_open(req, &fi)
    }

    func buffer(_ bytes: UnsafeRawBufferPointer) {
        guard claim() else { return }
        // Safety: fuse_reply_buf copies the bytes to the kernel before it returns.
        fuse_reply_buf(req, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
    }

    func pieces(_ pieces: [UnsafeRawBufferPointer]) {
        guard claim() else { return }
        var iov = pieces.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        // Safety: the pieces stay valid for the call (the caller keeps their owner alive);
        // fuse_reply_iov hands them to writev and returns after the kernel copied them.
        fuse_reply_iov(req, &iov, Int32(iov.count))
    }

    /// An xattr value (or list): its size when the caller asked for the size (0), the
    /// bytes when they fit, ERANGE when they do not.
    func xattr(_ bytes: [UInt8], requested: Int) {
        if requested == 0 {
            guard claim() else { return }
            fuse_reply_xattr(req, bytes.count)
        } else if bytes.count > requested {
            error(ERANGE)
        } else {
            bytes.withUnsafeBytes { buffer($0) }
        }
    }

    func statfs(_ s: FuseStatfs) {
        guard claim() else { return }
        var v = statvfs()
        v.f_bsize = UInt(s.blockSize)
        v.f_frsize = UInt(s.blockSize)
        v.f_blocks = fsblkcnt_t(s.blocks)
        v.f_bfree = fsblkcnt_t(s.blocksFree)
        v.f_bavail = fsblkcnt_t(s.blocksFree)
        v.f_files = fsfilcnt_t(s.files)
        v.f_ffree = fsfilcnt_t(s.filesFree)
        v.f_favail = fsfilcnt_t(s.filesFree)
        v.f_namemax = UInt(s.nameMax)
        fuse_reply_statfs(req, &v)
    }

    func none() {
        guard claim() else { return }
        fuse_reply_none(req)
    }

    deinit {
        if !replied.load(ordering: .acquiring) { fuse_reply_err(req, EIO) }
    }
}
