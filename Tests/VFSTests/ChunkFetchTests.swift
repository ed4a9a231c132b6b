// ChunkFetch, the chunk's fetch state machine: waiters registered before and
// after completion each run once, with the outcome; cancel reaches the fetch
// only while it is pending; an error reaches `value()`.
import Synchronization
import Testing
@testable import VFS

@Suite struct ChunkFetchTests {
    final class Calls: Sendable {
        let log = Mutex<[String]>([])
        func add(_ s: String) { log.withLock { $0.append(s) } }
        var all: [String] { log.withLock { $0 } }
    }

    struct Failure: Error {}

    @Test func waitersBeforeAndAfterArrivalRunOnce() async throws {
        let f = ChunkFetch(), calls = Calls()
        f.whenDone { calls.add($0 == nil ? "early ok" : "early failed") }
        #expect(!f.isArrived)
        #expect(calls.all.isEmpty)
        f.complete(nil)
        f.complete(Failure())  // a second end changes nothing
        f.whenDone { calls.add($0 == nil ? "late ok" : "late failed") }
        #expect(f.isArrived)
        #expect(calls.all == ["early ok", "late ok"])
        try await f.value()
    }

    @Test func aFailureReachesEveryWaiterAndValue() async {
        let f = ChunkFetch(), calls = Calls()
        f.whenDone { calls.add($0 is Failure ? "failed" : "other") }
        f.complete(Failure())
        #expect(!f.isArrived)
        #expect(calls.all == ["failed"])
        await #expect(throws: Failure.self) { try await f.value() }
    }

    @Test func cancelReachesOnlyAPendingFetch() {
        let f = ChunkFetch(), calls = Calls()
        f.cancelWith { calls.add("transfer") }
        f.cancelWith { calls.add("task") }  // a retry in a Task replaces the transfer
        f.cancel()
        #expect(f.isCancelled)
        #expect(calls.all == ["task"])
        f.complete(Failure())
        f.cancelWith { calls.add("after") }
        f.cancel()
        #expect(calls.all == ["task"])
        #expect(ChunkFetch.arrived().isArrived)
    }
}
