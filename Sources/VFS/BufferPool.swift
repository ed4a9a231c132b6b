// All prefetch and upload buffers come from one pool bounded by
// total_mem_limit. Readers never wait: one that finds the pool short reads
// directly instead. Writers wait (`wait(for:)`): they queue, in order, and a
// buffer given back wakes the first whose part now fits, so nobody polls.
// While writers wait, readers take nothing (prefetch yields to them).
import Synchronization

public final class BufferPool: Sendable {
    public let capacity: Int

    private struct Waiter {
        let id: UInt64
        let size: Int
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var used = 0
        var peak = 0
        var free: [Int: [UnsafeMutableRawBufferPointerBox]] = [:]
        /// Bytes kept in `free`: handed out and kept together stay within the capacity.
        var freeBytes = 0
        /// Writers waiting for memory, first come first served.
        var waiters: [Waiter] = []
        var nextWaiter: UInt64 = 0

        /// Counts `size` as handed out when it fits (or the pool is empty: a part larger
        /// than the whole limit must still go through, one at a time).
        mutating func admit(_ size: Int, capacity: Int) -> Bool {
            guard used + size <= capacity || used == 0 else { return false }
            used += size
            peak = max(peak, used)
            return true
        }
    }
    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// Bytes handed out now, and the most ever handed out at once.
    public var used: Int { state.withLock { $0.used } }
    /// Bytes resident in the pool: handed out plus kept for reuse (at most the capacity,
    /// but for one part larger than it).
    public var resident: Int { state.withLock { $0.used + $0.freeBytes } }
    public var peak: Int { state.withLock { $0.peak } }
    /// Writers waiting for memory now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// A buffer of exactly `size` bytes, or nil when that would pass the capacity or
    /// writers are waiting.
    func take(_ size: Int) -> PooledBuffer? {
        let admitted = state.withLock { s in s.waiters.isEmpty && s.used + size <= capacity && s.admit(size, capacity: capacity) }
        return admitted ? buffer(size) : nil
    }

    /// A buffer of `size` bytes, waiting (without polling) until memory given back makes
    /// room; throws CancellationError if the task is cancelled while waiting.
    func wait(for size: Int) async throws -> PooledBuffer {
        let id = state.withLock { s -> UInt64? in
            if s.waiters.isEmpty && s.admit(size, capacity: capacity) { return nil }
            defer { s.nextWaiter += 1 }
            return s.nextWaiter
        }
        guard let id else { return buffer(size) }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                // Cancelled before it could queue: onCancel found nothing to remove.
                if Task.isCancelled { return c.resume(throwing: CancellationError()) }
                let run = state.withLock { s -> Bool in
                    // Room may have been made since the first look.
                    if s.waiters.isEmpty && s.admit(size, capacity: capacity) { return true }
                    s.waiters.append(Waiter(id: id, size: size, continuation: c))
                    return false
                }
                if run { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        return buffer(size)  // admitted for us by whoever woke us
    }

    /// Memory for `size` bytes already counted in `used`: a kept buffer of that size, or
    /// a new one once kept buffers of other sizes were let go to make room.
    private func buffer(_ size: Int) -> PooledBuffer {
        let (reused, released) = state.withLock { s -> (UnsafeMutableRawBufferPointer?, [UnsafeMutableRawBufferPointer]) in
            if let box = s.free[size]?.popLast() {
                s.freeBytes -= size
                return (box.pointer, [])
            }
            var released: [UnsafeMutableRawBufferPointer] = []
            while s.used + s.freeBytes > capacity, let (other, boxes) = s.free.first(where: { !$0.value.isEmpty }) {
                released.append(boxes[boxes.count - 1].pointer)
                s.free[other]!.removeLast()
                s.freeBytes -= other
            }
            return (nil, released)
        }
        for m in released { m.deallocate() }
        let memory = reused ?? UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        return PooledBuffer(memory: memory, pool: self)
    }

    fileprivate func give(_ memory: UnsafeMutableRawBufferPointer) {
        let (keep, woken) = state.withLock { s -> (Bool, [Waiter]) in
            s.used -= memory.count
            // Wake waiting writers, in order, while the first one's part fits.
            var woken: [Waiter] = []
            while let first = s.waiters.first, s.admit(first.size, capacity: capacity) {
                woken.append(s.waiters.removeFirst())
            }
            // Keep a few of each size for reuse, within the capacity; the rest goes back
            // to the system.
            guard (s.free[memory.count]?.count ?? 0) < 8, s.used + s.freeBytes + memory.count <= capacity else {
                return (false, woken)
            }
            s.free[memory.count, default: []].append(UnsafeMutableRawBufferPointerBox(pointer: memory))
            s.freeBytes += memory.count
            return (true, woken)
        }
        if !keep { memory.deallocate() }
        for w in woken { w.continuation.resume() }
    }
}

struct UnsafeMutableRawBufferPointerBox: @unchecked Sendable {
    // Safety: a free buffer is owned by the pool alone until taken again.
    let pointer: UnsafeMutableRawBufferPointer
}

/// Memory from the pool, returned to it when the last reference goes.
final class PooledBuffer: @unchecked Sendable {
    // Safety: written by exactly one fetch before it is published (the fetch Task's
    // completion happens-before any reader that awaited it), then only read.
    let memory: UnsafeMutableRawBufferPointer
    private let pool: BufferPool
    fileprivate init(memory: UnsafeMutableRawBufferPointer, pool: BufferPool) {
        self.memory = memory
        self.pool = pool
    }
    deinit { pool.give(memory) }
}
