// The pool's waits: writers queue and are woken by memory given back, in order;
// readers yield to waiting writers; a cancelled wait leaves the queue.
import Synchronization
import Testing
@testable import VFS

/// The order writers were served in, shared with their Tasks.
private final class Served: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ s: String) { list.withLock { $0.append(s) } }
    var order: [String] { list.withLock { $0 } }
}

@Suite struct BufferPoolTests {
    @Test func buffersKeptForReuseStayWithinTheCapacity() throws {
        let pool = BufferPool(capacity: 8 << 20)
        // Buffers of many sizes come and go (last chunks of files, parts): what the pool
        // keeps for reuse plus what it hands out never passes the capacity.
        for round in 0..<50 {
            let sizes = [1 << 20, (1 << 20) + 4096 * (round % 7), 3 << 20, 2 << 20 + 4096 * (round % 5)]
            var held: [PooledBuffer] = []
            for size in sizes {
                if let b = pool.take(size) { held.append(b) }
                #expect(pool.resident <= pool.capacity)
            }
            held.removeAll()
            #expect(pool.used == 0 && pool.resident <= pool.capacity)
        }
        // A kept buffer of the same size is reused, not allocated again.
        var a = pool.take(1 << 20)
        let address = try #require(a).memory.baseAddress
        a = nil
        let b = try #require(pool.take(1 << 20))
        #expect(b.memory.baseAddress == address)
    }

    @Test func aWriterIsWokenByMemoryGivenBack() async throws {
        let pool = BufferPool(capacity: 3 << 20)
        var held: [PooledBuffer] = [try #require(pool.take(2 << 20))]
        let writer = Task { try await pool.wait(for: 2 << 20) }
        while pool.waiting == 0 { await Task.yield() }
        #expect(pool.take(1 << 20) == nil)  // a reader yields to the waiting writer
        held.removeAll()  // given back: wakes the writer
        let b = try await writer.value
        #expect(b.memory.count == 2 << 20)
        #expect(pool.used == 2 << 20)
        #expect(pool.waiting == 0)
    }

    @Test func writersAreServedInOrder() async throws {
        let pool = BufferPool(capacity: 1 << 20)
        let served = Served()
        var held = pool.take(1 << 20)
        #expect(held != nil)
        // Each takes the whole pool, notes it was served, and gives it back at its end.
        let first = Task {
            let b = try await pool.wait(for: 1 << 20)
            served.add("first")
            withExtendedLifetime(b) {}
        }
        while pool.waiting < 1 { await Task.yield() }
        let second = Task {
            let b = try await pool.wait(for: 1 << 20)
            served.add("second")
            withExtendedLifetime(b) {}
        }
        while pool.waiting < 2 { await Task.yield() }
        held = nil
        try await first.value
        try await second.value
        #expect(served.order == ["first", "second"])
        #expect(held == nil && pool.used == 0)
    }

    @Test func aCancelledWaitLeavesTheQueue() async throws {
        let pool = BufferPool(capacity: 1 << 20)
        let held = try #require(pool.take(1 << 20))
        let writer = Task { try await pool.wait(for: 1 << 20) }
        while pool.waiting == 0 { await Task.yield() }
        writer.cancel()
        await #expect(throws: CancellationError.self) { try await writer.value }
        #expect(pool.waiting == 0)
        #expect(pool.used == 1 << 20)
        withExtendedLifetime(held) {}
    }

    @Test func aPartLargerThanTheLimitStillGoesThroughAlone() async throws {
        let pool = BufferPool(capacity: 1 << 20)
        let big = try await pool.wait(for: 4 << 20)
        #expect(big.memory.count == 4 << 20)
        #expect(pool.take(1) == nil)
    }
}
