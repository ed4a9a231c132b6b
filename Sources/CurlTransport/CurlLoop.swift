// The I/O thread. Submissions and cancellations arrive through a locked queue and
// a curl_multi_wakeup; everything else (easy handles, callbacks, completions)
// happens on this one thread, so no curl handle is ever shared between threads.
import CCurl
import Foundation
import Logging
import ObjectStore
import HTTPSeam
import Synchronization

final class CurlLoop: @unchecked Sendable {
    // Safety: `multi`, `active` and `idleHandles` are used only on the loop thread
    // (`run` and what it calls). Other threads touch only `inbox` (a Mutex), the atomics,
    // and curl_multi_wakeup, which libcurl documents as callable from any thread.
    private let multi: UnsafeMutableRawPointer
    let options: CurlTransportOptions
    private let logger: Logger
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []
    static let idleHandlesKept = 8
    private let finished = Atomic<Bool>(false)
    let connectionsOpened = Atomic<Int>(0)

    private struct Inbox {
        var submitted: [Transfer] = []
        var cancelled: [Transfer] = []
        var stopping = false
    }
    private let inbox = Mutex(Inbox())
    private let done = DispatchSemaphore(value: 0)

    static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    init(options: CurlTransportOptions, logger: Logger) {
        _ = Self.globalInit
        multi = curl_multi_init()
        self.options = options
        self.logger = logger
        _ = CCurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, options.maxCachedConnections)
        let thread = Thread { [self] in run() }
        thread.name = "ossmount-curl"
        thread.start()
    }

    func submit(_ t: Transfer) {
        let rejected = inbox.withLock { box -> Bool in
            if box.stopping { return true }
            box.submitted.append(t)
            return false
        }
        if rejected {
            t.finish(.failure(TransportFailure(.aborted, "transport is shut down")))
        } else {
            curl_multi_wakeup(multi)
        }
    }

    func cancel(_ t: Transfer) {
        t.cancelled.store(true, ordering: .relaxed)
        inbox.withLock { $0.cancelled.append(t) }
        curl_multi_wakeup(multi)
    }

    func stop() {
        let first = inbox.withLock { box -> Bool in
            defer { box.stopping = true }
            return !box.stopping
        }
        guard first else { return }
        curl_multi_wakeup(multi)
        done.wait()
    }

    private func run() {
        // The kernel's name for this thread (top -H, perf, /proc): Foundation's
        // Thread.name does not set it on Linux, and a thread inherits its creator's.
        try? "ossmount-curl".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
        var running: Int32 = 0
        while true {
            let (new, cancelled, stopping) = inbox.withLock { box in
                defer {
                    box.submitted.removeAll()
                    box.cancelled.removeAll()
                }
                return (box.submitted, box.cancelled, box.stopping)
            }
            for t in new { start(t) }
            for t in cancelled { abort(t, TransportFailure(.aborted, "cancelled")) }
            if stopping { break }
            curl_multi_perform(multi, &running)
            drainCompletions()
            // 1 s cap: wakeups end the poll at once; the cap only bounds a missed one.
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        for t in Array(active.values) { abort(t, TransportFailure(.aborted, "transport shut down")) }
        for h in idleHandles { curl_easy_cleanup(h) }
        curl_multi_cleanup(multi)
        done.signal()
    }

    private func drainCompletions() {
        var remaining: Int32 = 0
        while let msg = curl_multi_info_read(multi, &remaining) {
            guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
            let code = CCurl_msg_result(msg)
            guard let t = active[easy] else { continue }
            var connects = 0
            _ = CCurl_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &connects)
            connectionsOpened.add(connects, ordering: .relaxed)
            if code == CURLE_OK {
                t.deliverHead()
                release(t)
                t.finish(.success(HTTPResponseHead(status: t.status, headers: t.headers)))
            } else {
                let detail = String(cString: t.errorBuffer)
                let failure = t.sinkRefused ? TransportFailure(.aborted, "response refused by the receiver")
                    : Transfer.failure(for: code, detail: detail)
                release(t)
                t.finish(.failure(failure))
            }
        }
    }

    private func abort(_ t: Transfer, _ failure: TransportFailure) {
        guard let easy = t.easy, active[easy] != nil else { return }
        release(t)
        t.finish(.failure(failure))
    }

    /// Detaches the easy handle from the multi handle and keeps it for reuse.
    private func release(_ t: Transfer) {
        guard let easy = t.easy else { return }
        curl_multi_remove_handle(multi, easy)
        active[easy] = nil
        t.easy = nil
        // A few idle handles are kept for reuse; the rest go, and their buffers (up to
        // 1.5 MiB each, see configure) with them, so a burst of transfers does not stay
        // resident.
        if idleHandles.count < Self.idleHandlesKept {
            curl_easy_reset(easy)
            idleHandles.append(easy)
        } else {
            curl_easy_cleanup(easy)
        }
    }

    private func start(_ t: Transfer) {
        if t.cancelled.load(ordering: .relaxed) {
            t.finish(.failure(TransportFailure(.aborted, "cancelled")))
            return
        }
        guard let easy = idleHandles.popLast() ?? curl_easy_init() else {
            t.finish(.failure(TransportFailure(.other, "curl_easy_init failed")))
            return
        }
        t.easy = easy
        configure(easy, for: t)
        active[easy] = t
        let rc = curl_multi_add_handle(multi, easy)
        if rc != CURLM_OK {
            release(t)
            t.finish(.failure(TransportFailure(.other, "curl_multi_add_handle: \(rc)")))
        }
    }
}
