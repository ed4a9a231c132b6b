// readNow: the path FUSE takes for a read. A read whose chunk is still on its way
// is answered from the fetch's completion (no Task); a fetch whose one direct try
// failed goes on through getObject's path, and a read whose object changed gets
// the error through `otherwise`.
import ObjectStore
import ObjectStoreTesting
import Synchronization
import Testing
@testable import VFS

/// What a `whenArrived` read delivered, or nothing yet.
final class Delivered: Sendable {
    private let value = Mutex<[UInt8]??>(nil)
    func set(_ data: ReadData?) { value.withLock { $0 = .some(data?.bytes) } }
    var got: [UInt8]?? { value.withLock { $0 } }

    func waitFor(seconds: Double = 10) async -> [UInt8]?? {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while got == nil, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(2)) }
        return got
    }
}

@Suite struct ImmediateReadTests {
    static let data = (0..<(100 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) }

    func openFile(_ store: InMemoryObjectStore, _ client: ObjectClient? = nil,
                  configure: (inout VFSConfig) -> Void = { _ in }) async throws -> (VFS, UInt64) {
        _ = try await store.putObject("f", bytes: Self.data)
        let vfs = makeVFS(client ?? store, configure: configure)
        let e = try await vfs.lookup(parent: 1, name: "f")
        let (h, _) = try await vfs.open(e.attributes.ino, writable: false)
        return (vfs, h)
    }

    @Test func aReadWaitingForItsChunkIsAnsweredByTheFetch() async throws {
        let store = InMemoryObjectStore()
        let (vfs, h) = try await openFile(store)
        store.holdStartedGets(true)
        guard case .whenArrived(let wait, _)? = vfs.readNow(h, offset: 0, size: 128 << 10) else {
            Issue.record("the chunk cannot have arrived: its GET is held")
            return
        }
        #expect(store.heldGetCount == 1)
        let delivered = Delivered()
        wait { delivered.set($0) }
        #expect(delivered.got == nil)  // nothing until the GET completes
        store.holdStartedGets(false)
        #expect(await delivered.waitFor() == .some(Self.data))
        // The chunk is resident now: a second read is answered at once, with no GET.
        guard case .done(let again)? = vfs.readNow(h, offset: 4096, size: 4096) else {
            Issue.record("the chunk arrived: the read should be answered now")
            return
        }
        #expect(again.bytes == Array(Self.data[4096..<8192]))
        #expect(store.heldGetCount == 0)
        await vfs.release(h)
    }

    @Test func aFailedDirectTryGoesOnThroughGetObject() async throws {
        let store = InMemoryObjectStore()
        let faults = FaultInjectingClient(store, seed: 1)
        let (vfs, h) = try await openFile(store, faults)
        faults.failNext(.get, with: .transport(TransportFailure(.reset, "cut")))
        let delivered = Delivered()
        switch vfs.readNow(h, offset: 0, size: 128 << 10) {
        case .whenArrived(let wait, _)?: wait { delivered.set($0) }
        case .done(let data)?: delivered.set(data)
        default: Issue.record("a read of an open file is planned at once")
        }
        #expect(await delivered.waitFor() == .some(Self.data))
        #expect(faults.faultsInjected == 1)
        await vfs.release(h)
    }

    @Test func aReplacedObjectFailsTheReadThroughOtherwise() async throws {
        let store = InMemoryObjectStore()
        let (vfs, h) = try await openFile(store)
        store.holdStartedGets(true)
        _ = try await store.putObject("f", bytes: [1, 2, 3])  // the open handle's ETag no longer matches
        guard case .whenArrived(let wait, let otherwise)? = vfs.readNow(h, offset: 0, size: 128 << 10) else {
            Issue.record("the chunk cannot have arrived: its GET is held")
            return
        }
        let delivered = Delivered()
        wait { delivered.set($0) }
        store.holdStartedGets(false)
        #expect(await delivered.waitFor() == .some(nil))  // failed: the reply comes from `otherwise`
        await #expect(throws: VFSError.self) { _ = try await otherwise() }
        await vfs.release(h)
    }

    @Test func aJumpIsOneRangedGetAnsweredFromItsCompletion() async throws {
        let store = InMemoryObjectStore()
        let (vfs, h) = try await openFile(store) { $0.prefetchChunkSize = 16 << 10 }
        store.holdStartedGets(true)
        guard case .whenArrived(let wait, _)? = vfs.readNow(h, offset: 50_000, size: 4096) else {
            Issue.record("a jump needs a GET, which is held")
            return
        }
        let delivered = Delivered()
        wait { delivered.set($0) }
        #expect(store.heldGetCount == 1)  // just the read's range, no chunk
        #expect(delivered.got == nil)
        store.holdStartedGets(false)
        #expect(await delivered.waitFor() == .some(Array(Self.data[50_000..<54_096])))
        await vfs.release(h)
    }
}
