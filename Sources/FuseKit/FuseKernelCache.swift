// Bytes handed to the kernel's page cache (FUSE_NOTIFY_STORE) without the kernel
// asking: the rest of a block fetched for a random read, so the reads near it are
// answered by the kernel. One thread of its own stores them: a store waits for the
// locks of pages the kernel is reading at that moment, and those reads are answered
// by other threads (FUSE workers, the transport's), never by this one, so it never
// waits on itself. Offers past `maxPending` bytes are dropped (filling is a bet on
// locality, never worth unbounded memory), as are all once the session has ended.
// The same thread drops a file's pages when the object changed (`invalidate`): that
// waits for page locks too, so it must not run where reads are answered.
import CFuse3
import Foundation

public final class FuseKernelCache: @unchecked Sendable {
    // Safety: every `var` is read and written only with `condition` locked; `session` is
    // used by the store thread only while `storing` (set under the lock), and `close`
    // waits for that to end before the session can be destroyed.
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var head = 0
    private var pending = 0
    private var session: OpaquePointer?
    private var closed = false
    private var storing = false
    private var started = false
    private var counts = Counts()
    let maxPending: Int

    private enum Job {
        case store(Offer)
        case invalidate(UInt64, done: @Sendable () -> Void)
    }

    private struct Offer {
        let ino: UInt64
        let offset: UInt64
        let count: Int
        let data: any FuseReadBuffer
        let valid: @Sendable () -> Bool
    }

    /// What became of the offers so far.
    public struct Counts: Sendable, Equatable {
        public var storedBytes = 0
        public var dropped = 0
        public var invalidated = 0
    }

    public init(maxPending: Int = 16 << 20) {
        self.maxPending = maxPending
    }

    public var counted: Counts {
        condition.lock()
        defer { condition.unlock() }
        return counts
    }

    /// Connects to the session whose kernel the bytes go to (FuseSession's init).
    func attach(_ session: OpaquePointer) {
        condition.lock()
        defer { condition.unlock() }
        self.session = session
    }

    /// Offers `data` as `ino`'s bytes at `offset`. They are stored later, in order, if
    /// `valid()` still holds then; when it no longer holds right after they were stored
    /// (the object changed meanwhile), the range is invalidated again. False: dropped.
    @discardableResult
    public func offer(_ ino: UInt64, offset: UInt64, _ data: any FuseReadBuffer,
                      valid: @escaping @Sendable () -> Bool) -> Bool {
        let count = data.withPieces { $0.reduce(0) { $0 + $1.count } }
        condition.lock()
        defer { condition.unlock() }
        guard count > 0, session != nil, !closed, pending + count <= maxPending else {
            counts.dropped += 1
            return false
        }
        enqueue(.store(Offer(ino: ino, offset: offset, count: count, data: data, valid: valid)))
        pending += count
        return true
    }

    /// Drops every page of `ino` the kernel holds, then calls `done` (from the store
    /// thread, after the stores offered before; at once when the session has ended).
    public func invalidate(_ ino: UInt64, then done: @escaping @Sendable () -> Void) {
        condition.lock()
        guard session != nil, !closed else {
            condition.unlock()
            return done()
        }
        enqueue(.invalidate(ino, done: done))
        condition.unlock()
    }

    /// Called with `condition` locked.
    private func enqueue(_ job: Job) {
        if !started {
            started = true
            let thread = Thread { [self] in storeLoop() }
            thread.name = "ossmount-fill"
            thread.start()
        }
        queue.append(job)
        condition.signal()
    }

    /// Stops storing: later offers are dropped, queued ones forgotten. With `wait`, returns
    /// once no store is in progress: call it so only after the kernel connection has
    /// ended (a store may wait for a read the ended connection no longer answers).
    func close(wait: Bool) {
        condition.lock()
        closed = true
        var waiting: [@Sendable () -> Void] = []
        for job in queue[head...] {
            switch job {
            case .store: counts.dropped += 1
            case .invalidate(_, let done): waiting.append(done)  // the connection's end drops every page
            }
        }
        queue.removeAll()
        head = 0
        pending = 0
        condition.broadcast()
        if wait {
            while storing { condition.wait() }
            session = nil
        }
        condition.unlock()
        for done in waiting { done() }
    }

    private func storeLoop() {
        condition.lock()
        while true {
            while head == queue.count && !closed { condition.wait() }
            guard !closed, let session else { break }
            let job = queue[head]
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            }
            storing = true
            condition.unlock()
            switch job {
            case .store(let offer):
                let (stored, invalidated) = store(offer, session)
                condition.lock()
                if !closed { pending -= offer.count }
                counts.storedBytes += stored
                if stored == 0 { counts.dropped += 1 }
                if invalidated { counts.invalidated += 1 }
            case .invalidate(let ino, let done):
                _ = fuse_lowlevel_notify_inval_inode(session, ino, 0, 0)
                done()
                condition.lock()
            }
            storing = false
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Bytes stored, and whether they were invalidated again.
    private func store(_ o: Offer, _ session: OpaquePointer) -> (Int, Bool) {
        guard o.valid() else { return (0, false) }
        let stored = o.data.withPieces { pieces in
            var at = o.offset
            for p in pieces where p.count > 0 {
                // Safety: `p` points into memory `o.data` owns and keeps alive for the
                // duration of withPieces; the store only reads it (a writev to /dev/fuse).
                guard CFuse3_notify_store(session, o.ino, off_t(at), p.baseAddress, p.count) == 0 else { break }
                at += UInt64(p.count)
            }
            return Int(at - o.offset)
        }
        guard stored > 0, !o.valid() else { return (stored, false) }
        _ = fuse_lowlevel_notify_inval_inode(session, o.ino, off_t(o.offset), off_t(stored))
        return (stored, true)
    }
}
