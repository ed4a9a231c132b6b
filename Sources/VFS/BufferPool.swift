// All prefetch (and, later, upload) buffers come from one pool bounded by
// total_mem_limit. Taking memory never waits: a reader that finds the pool
// empty reads directly instead, and never fails for lack of memory.
import Synchronization

public final class BufferPool: Sendable {
    public let capacity: Int
    private let state: Mutex<(used: Int, peak: Int, free: [Int: [UnsafeMutableRawBufferPointerBox]])>

    public init(capacity: Int) {
        self.capacity = capacity
        state = Mutex((0, 0, [:]))
    }

    /// Bytes handed out now, and the most ever handed out at once.
    public var used: Int { state.withLock { $0.used } }
    public var peak: Int { state.withLock { $0.peak } }

    /// A buffer of exactly `size` bytes, or nil when that would pass the capacity.
    func take(_ size: Int) -> PooledBuffer? {
        let (admitted, reused) = state.withLock { s -> (Bool, UnsafeMutableRawBufferPointerBox?) in
            guard s.used + size <= capacity else { return (false, nil) }
            s.used += size
            s.peak = max(s.peak, s.used)
            return (true, s.free[size]?.popLast())
        }
        guard admitted else { return nil }
        let memory = reused?.pointer ?? UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        return PooledBuffer(memory: memory, pool: self)
    }

    fileprivate func give(_ memory: UnsafeMutableRawBufferPointer) {
        let keep = state.withLock { s -> Bool in
            s.used -= memory.count
            // Keep a few of each size for reuse; the rest goes back to the system.
            guard (s.free[memory.count]?.count ?? 0) < 8 else { return false }
            s.free[memory.count, default: []].append(UnsafeMutableRawBufferPointerBox(pointer: memory))
            return true
        }
        if !keep { memory.deallocate() }
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
