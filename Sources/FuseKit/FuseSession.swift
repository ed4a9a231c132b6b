// A mounted FUSE session on the low-level API: mount, serve with libfuse's
// multi-threaded loop, unmount. The C callbacks (FuseOperations.swift) turn
// each request into a Task on the FuseFilesystem. The loop ends on unmount (also
// a lazy one by the admin), on `stop`, or, when libfuse's signal handlers are
// asked for, on SIGINT/SIGTERM/SIGHUP.
import CFuse3
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct FuseMountError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// What the C callbacks reach through fuse_req_userdata.
final class FuseContext: @unchecked Sendable {
    // Safety: immutable after init; the filesystem is Sendable.
    let filesystem: FuseFilesystem
    let options: FuseConnectionOptions
    let writeBuffers = WriteBuffers()
    init(filesystem: FuseFilesystem, options: FuseConnectionOptions) {
        self.filesystem = filesystem
        self.options = options
    }
}

public final class FuseSession: @unchecked Sendable {
    // Safety: `session` is used by the loop thread and by `exit`, which libfuse allows
    // (fuse_session_exit only sets a flag); mount/unmount happen before and after the loop.
    private let session: OpaquePointer
    private let context: FuseContext
    private let kernelCache: FuseKernelCache?
    private var mounted = false
    /// The thread in `run` while the loop runs (libfuse's loop waits there; its workers
    /// block the usual signals), so `stop` can interrupt that wait.
    private let loopThread = Mutex<pthread_t?>(nil)

    private func wakeLoop() {
        loopThread.withLock { t in if let t { _ = pthread_kill(t, SIGUSR1) } }
    }

    /// `mountOptions` are `-o` options for the kernel mount (`ro`, `allow_other`, `fsname=...`).
    /// `kernelCache` stores what it is offered into this session's kernel until unmount.
    public init(filesystem: FuseFilesystem, mountOptions: [String], connection: FuseConnectionOptions = FuseConnectionOptions(),
                kernelCache: FuseKernelCache? = nil) throws(FuseMountError)
    {
        self.kernelCache = kernelCache
        let context = FuseContext(filesystem: filesystem, options: connection)
        self.context = context
        var ops = FuseOperations.table()
        // max_read must equal what FUSE_INIT sets (conn->max_read), so it comes from the
        // same connection options.
        let options = mountOptions + ["max_read=\(connection.maxIO)"]
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("ossmount"), strdup("-o"), strdup(options.joined(separator: ","))]
        defer { for p in argv { free(p) } }
        let s: OpaquePointer? = argv.withUnsafeMutableBufferPointer { buf in
            var args = CFuse3_args_init(Int32(buf.count), buf.baseAddress)
            defer { fuse_opt_free_args(&args) }
            // Safety: `context` lives as long as this object, which outlives the session.
            // fuse_session_new copies the ops table.
            return fuse_session_new(&args, &ops, MemoryLayout<fuse_lowlevel_ops>.size,
                                    Unmanaged.passUnretained(context).toOpaque())
        }
        guard let s else { throw FuseMountError(description: "invalid FUSE options: \(mountOptions.joined(separator: ","))") }
        session = s
        kernelCache?.attach(s)
    }

    public func mount(at mountpoint: String) throws(FuseMountError) {
        guard fuse_session_mount(session, mountpoint) == 0 else {
            throw FuseMountError(description: "cannot mount on \(mountpoint) (see the message above)")
        }
        mounted = true
        raiseReadahead(mountpoint)
    }

    /// The kernel caps a FUSE mount's readahead at 128 KiB whatever FUSE_INIT says; a
    /// sequential reader then sends 128 KiB requests. Raising the backing device's
    /// read_ahead_kb to `maxIO` (root only) lets it send 1 MiB ones: an eighth of the
    /// requests per MiB. Found through /proc/self/mountinfo, so no FUSE request is needed.
    private func raiseReadahead(_ mountpoint: String) {
        guard let real = realpath(mountpoint, nil) else { return }
        let path = String(cString: real)
        free(real)
        guard let info = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return }
        // Fields: id parent major:minor root mountpoint ...; the last line for a path is the newest mount.
        let device = info.split(separator: "\n").map { $0.split(separator: " ") }
            .last { $0.count > 4 && $0[4] == path }?[2]
        guard let device else { return }
        let kb = context.options.maxIO / 1024
        let file = "/sys/class/bdi/\(device)/read_ahead_kb"
        let fd = open(file, O_WRONLY)
        guard fd >= 0 else { return }
        let text = Array("\(kb)\n".utf8)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// Serves requests until unmounted, stopped or (with `signalHandlers`) signalled;
    /// returns 0 on a clean end.
    public func run(signalHandlers: Bool = true) -> Int32 {
        _ = CFuse3_install_wake_handler(SIGUSR1)
        loopThread.withLock { $0 = pthread_self() }
        defer { loopThread.withLock { $0 = nil } }
        if signalHandlers {
            guard fuse_set_signal_handlers(session) == 0 else { return -1 }
        }
        defer { if signalHandlers { fuse_remove_signal_handlers(session) } }
        return CFuse3_session_loop_mt(session, context.options.maxThreads, 0)
    }

    /// Ends the loop from another thread: marks the session exited, then wakes the loop
    /// so it sees that: SIGUSR1 to the thread in `run` interrupts its wait, and (for a
    /// path mountpoint) a lookup of a name never asked before makes a worker wake from
    /// its read of /dev/fuse (a stat of the mountpoint might be answered from cache).
    public func stop(mountpoint: String) {
        fuse_session_exit(session)
        wakeLoop()
        if !mountpoint.hasPrefix("/dev/fd/") {
            var st = stat()
            _ = stat(mountpoint + "/.ossmount-stop-\(getpid())-\(UInt64.random(in: 0...UInt64.max))", &st)
        }
        usleep(100_000)  // a signal that came just before the loop began to wait is sent again
        wakeLoop()
    }

    /// Ends the kernel connection. The kernel cache stops taking offers first, and its
    /// store in progress (which may wait for a read the ended connection fails) is waited
    /// for after, so the session is not destroyed under it.
    public func unmount() {
        kernelCache?.close(wait: false)
        if mounted { fuse_session_unmount(session) }
        mounted = false
        kernelCache?.close(wait: true)
    }

    deinit {
        unmount()
        fuse_session_destroy(session)
    }
}
