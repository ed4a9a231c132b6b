// One prefetch chunk's fetch as a small state machine: pending (with the reads
// waiting for it and what cancels it), arrived, or failed. It is completed once,
// from whatever thread the fetch ends on: the transport's I/O thread for a GET
// started without a Task, where waiting reads are then answered with no other
// thread woken; a Task's thread otherwise.
import ObjectStore
import Synchronization

final class ChunkFetch: Sendable {
    typealias Waiter = @Sendable ((any Error)?) -> Void

    private enum Phase {
        case pending(waiters: [Waiter], cancel: (@Sendable () -> Void)?)
        case arrived
        case failed(any Error)
    }
    private let phase = Mutex(Phase.pending(waiters: [], cancel: nil))
    /// Set (releasing) at arrival, after the bytes went into the chunk's buffer: a reader
    /// that sees it (acquiring) may use them without taking the lock.
    private let arrivedFlag = Atomic<Bool>(false)
    private let cancelledFlag = Atomic<Bool>(false)

    /// A fetch that is done already (a chunk read from the local cache in the reader's thread).
    static func arrived() -> ChunkFetch {
        let f = ChunkFetch()
        f.complete(nil)
        return f
    }

    var isArrived: Bool { arrivedFlag.load(ordering: .acquiring) }
    var isCancelled: Bool { cancelledFlag.load(ordering: .relaxed) }

    /// Ends the fetch (nil: the bytes are in) and calls the waiters, in this thread.
    func complete(_ error: (any Error)?) {
        if error == nil { arrivedFlag.store(true, ordering: .releasing) }
        let waiters: [Waiter] = phase.withLock { p in
            guard case .pending(let waiters, _) = p else { return [] }
            p = error.map { .failed($0) } ?? .arrived
            return waiters
        }
        for w in waiters { w(error) }
    }

    /// Calls `body` once the fetch is done (at once, in this thread, if it is).
    func whenDone(_ body: @escaping Waiter) {
        let done: (any Error)?? = phase.withLock { p in
            switch p {
            case .pending(var waiters, let cancel):
                waiters.append(body)
                p = .pending(waiters: waiters, cancel: cancel)
                return .none
            case .arrived: return .some(nil)
            case .failed(let e): return .some(e)
            }
        }
        if let done { body(done) }
    }

    func value() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            whenDone { error in
                if let error { c.resume(throwing: error) } else { c.resume() }
            }
        }
    }

    /// What stops the fetch while it is pending (a transfer's cancel, a Task's).
    func cancelWith(_ cancel: @escaping @Sendable () -> Void) {
        phase.withLock { p in
            if case .pending(let waiters, _) = p { p = .pending(waiters: waiters, cancel: cancel) }
        }
    }

    /// Stops a pending fetch: it then fails (CancellationError) instead of being tried again.
    func cancel() {
        cancelledFlag.store(true, ordering: .relaxed)
        let cancel: (@Sendable () -> Void)? = phase.withLock { p in
            guard case .pending(_, let cancel) = p else { return nil }
            return cancel
        }
        cancel?()
    }
}

/// Counts a read's chunks in, from whatever threads they arrive on.
final class ArrivalCount: Sendable {
    private let left: Mutex<(count: Int, failed: Bool)>
    init(_ count: Int) { left = Mutex((count, false)) }

    /// One chunk is done; true (with whether any failed) for the last one.
    func arrive(failed: Bool) -> (last: Bool, anyFailed: Bool) {
        left.withLock { l in
            l.count -= 1
            l.failed = l.failed || failed
            return (l.count == 0, l.failed)
        }
    }
}

/// One chunk's GET: started without a Task where the client can and no cache lookup
/// comes first (its completion, on the transport's thread, answers the reads waiting for
/// it); otherwise, or after that one try failed, in a Task through `getObject` and its
/// retries (looking in the local cache first, when asked). A chunk that came from OSS
/// is then kept in the local cache, if there is one.
struct ChunkGet: Sendable {
    let client: ObjectClient
    let key: String
    let etag: ETag?
    let index: Int
    /// nil: the whole object (a file of one chunk, whose CRC-64 is then checked).
    let range: ByteRange?
    let length: Int
    /// Kept alive (captured) until the transfer that writes into it has ended.
    let buffer: PooledBuffer
    let fetch: ChunkFetch
    let budget: PrefetchBudget
    let metrics: ReadMetrics
    /// Look in the local cache before going to OSS (not done by the reader already).
    let lookInCache: Bool
    let cached: ((any ChunkCache), ChunkID)?

    func start() {
        if fetch.isCancelled {  // the handle was released before the GET started
            budget.give()
            return fetch.complete(CancellationError())
        }
        if lookInCache && cached != nil || !startDirect() { startTask(lookInCache: lookInCache) }
    }

    /// Starts the GET in this thread; false when the client cannot (use `startTask`).
    private func startDirect() -> Bool {
        let cancel = client.startGetObject(key, range: range, ifMatch: etag, into: MutableBytes(buffer.memory)) {
            result in
            switch result.flatMap(check) {
            case .success:
                budget.give()
                fetch.complete(nil)
                storeInCache()
            case .failure where fetch.isCancelled:
                budget.give()
                fetch.complete(CancellationError())
            case .failure:
                startTask(lookInCache: false)
            }
        }
        guard let cancel else { return false }
        fetch.cancelWith(cancel)
        return true
    }

    private func startTask(lookInCache: Bool) {
        let task = Task {
            defer { budget.give() }
            do {
                if fetch.isCancelled { throw CancellationError() }
                let dest = MutableBytes(buffer.memory)
                if lookInCache, let (cache, id) = cached {
                    if await cache.load(id, into: dest) {
                        metrics.cacheHits.increment()
                        fetch.complete(nil)
                        return
                    }
                    metrics.cacheMisses.increment()
                }
                try check(try await client.getObject(key, range: range, ifMatch: etag, into: .buffer(dest))).get()
                fetch.complete(nil)
            } catch {
                fetch.complete(error)
                return
            }
            storeInCache()
        }
        fetch.cancelWith { task.cancel() }
    }

    /// Keeps the chunk that arrived from OSS in the local cache, written after it is
    /// served; the buffer stays the pool's until then.
    private func storeInCache() {
        guard let (cache, id) = cached else { return }
        Task {
            await cache.store(id, from: UploadBody(borrowing: UnsafeRawBufferPointer(buffer.memory)))
            withExtendedLifetime(buffer) {}
        }
    }

    private func check(_ got: GetResult) -> Result<Void, ObjectStoreError> {
        guard got.bytesRead == length else {
            return .failure(.invalidResponse("short chunk \(index) of \(key): \(got.bytesRead) of \(length)"))
        }
        return .success(())
    }
}
