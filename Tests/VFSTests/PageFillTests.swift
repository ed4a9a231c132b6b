// random_fill without the kernel: the planner's blocks, what a jump offers to the
// page cache (a recording KernelPageCache), when those offers stop being valid, and
// an open that finds the kernel holding another object's pages dropping them before
// it is answered.
import ObjectStore
import ObjectStoreTesting
import Synchronization
import Testing
@testable import VFS

/// The offers and invalidations the VFS made.
final class RecordingPageCache: KernelPageCache {
    struct Offer {
        let ino: InodeNumber
        let offset: UInt64
        let bytes: [UInt8]
        let valid: @Sendable () -> Bool
    }
    private let recorded = Mutex<(offers: [Offer], invalidated: [InodeNumber])>(([], []))
    var offers: [Offer] { recorded.withLock { $0.offers } }
    var invalidated: [InodeNumber] { recorded.withLock { $0.invalidated } }

    func offer(_ ino: InodeNumber, offset: UInt64, _ data: ReadData, valid: @escaping @Sendable () -> Bool) {
        recorded.withLock { $0.offers.append(Offer(ino: ino, offset: offset, bytes: data.bytes, valid: valid)) }
    }
    func invalidate(_ ino: InodeNumber, then done: @escaping @Sendable () -> Void) {
        recorded.withLock { $0.invalidated.append(ino) }
        done()
    }
}

@Suite struct PageFillPlannerTests {
    let kib: UInt64 = 1 << 10

    @Test func aJumpNamesTheAlignedBlockAroundIt() {
        var p = ReadaheadPlanner(chunkSize: 64 * kib, fileSize: 1000 * kib, maxWindow: 4, fillSize: 256 * kib)
        // The first read at 0 starts a streak: no block.
        #expect(p.read(offset: 0, size: 4096).fill == nil)
        // A jump: the 256 KiB block it lies in.
        #expect(p.read(offset: 300 * kib, size: 4096).fill == (256 * kib)..<(512 * kib))
        // A read across a block boundary: both blocks.
        #expect(p.read(offset: 510 * kib, size: 8192).fill == (256 * kib)..<(768 * kib))
        // The last block ends with the file.
        #expect(p.read(offset: 900 * kib, size: 4096).fill == (768 * kib)..<(1000 * kib))
        // A read as big as a block fetches itself.
        #expect(p.read(offset: 100 * kib, size: 256 << 10).fill == nil)
        // Off.
        var off = ReadaheadPlanner(chunkSize: 64 * kib, fileSize: 1000 * kib, maxWindow: 4)
        #expect(off.read(offset: 300 * kib, size: 4096).fill == nil)
    }

    @Test func aReadWhereTheBlockEndsGoesOnFromTheJump() {
        var p = ReadaheadPlanner(chunkSize: 64 * kib, fileSize: 4096 * kib, maxWindow: 4, fillSize: 256 * kib)
        #expect(p.read(offset: 300 * kib, size: 4096).fill != nil)
        // The kernel had the rest of the block: its next read of the streak is at the end.
        let d = p.read(offset: 512 * kib, size: 128 << 10)
        #expect(d.fill == nil && !d.fetch.isEmpty && p.window == 1)
        // So is a read right after the jump's bytes (the block was not stored yet).
        var q = ReadaheadPlanner(chunkSize: 64 * kib, fileSize: 4096 * kib, maxWindow: 4, fillSize: 256 * kib)
        _ = q.read(offset: 300 * kib, size: 4096)
        #expect(q.read(offset: 304 * kib, size: 4096).fill == nil && q.window == 1)
        #expect(q.read(offset: 512 * kib, size: 4096).fill == nil && q.window == 2)
        // Elsewhere: another jump.
        #expect(q.read(offset: 2000 * kib, size: 4096).fill == (1792 * kib)..<(2048 * kib))
    }
}

@Suite struct PageFillTests {
    static let data = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }

    func mount(_ store: InMemoryObjectStore, _ kernel: RecordingPageCache, time: ManualTime = ManualTime())
        async throws -> (VFS, InodeNumber)
    {
        _ = try await store.putObject("f", bytes: Self.data)
        let vfs = makeVFS(store, time: time) {
            $0.readOnly = false
            $0.prefetchChunkSize = 1 << 20
            $0.randomFill = 256 << 10
            $0.kernelPageCache = kernel
        }
        let e = try await vfs.lookup(parent: 1, name: "f")
        return (vfs, e.attributes.ino)
    }

    func read(_ vfs: VFS, _ h: UInt64, _ offset: Int, _ size: Int) async -> [UInt8]? {
        let delivered = Delivered()
        switch vfs.readNow(h, offset: Int64(offset), size: size) {
        case .whenArrived(let wait, _)?: wait { delivered.set($0) }
        case .done(let data)?: delivered.set(data)
        default: Issue.record("a read of an open file is planned at once")
        }
        return await delivered.waitFor() ?? nil
    }

    @Test func aJumpOffersTheRestOfItsBlock() async throws {
        let store = InMemoryObjectStore()
        let kernel = RecordingPageCache()
        let (vfs, ino) = try await mount(store, kernel)
        let (h, _) = try await vfs.open(ino, writable: false)
        let at = (2 << 20) + 3 * 4096
        #expect(await read(vfs, h, at, 4096) == Array(Self.data[at..<(at + 4096)]))
        let offers = kernel.offers
        let block = (2 << 20)..<((2 << 20) + (256 << 10))
        // The block but for the read's page, in two parts, each with its bytes.
        #expect(offers.map { $0.offset } == [UInt64(block.lowerBound), UInt64(at + 4096)])
        #expect(offers.map { $0.bytes.count } == [at - block.lowerBound, block.upperBound - at - 4096])
        for o in offers {
            #expect(o.ino == ino)
            #expect(o.bytes == Array(Self.data[Int(o.offset)..<(Int(o.offset) + o.bytes.count)]))
            #expect(o.valid())
        }
        // A read in the block is the kernel's now; the streak's next read after it offers nothing.
        #expect(await read(vfs, h, block.upperBound, 4096) == Array(Self.data[block.upperBound..<(block.upperBound + 4096)]))
        #expect(kernel.offers.count == 2)
        await vfs.release(h)
    }

    @Test func offersStopBeingValidWhenTheFileIsOpenedForWriting() async throws {
        let store = InMemoryObjectStore()
        let kernel = RecordingPageCache()
        let (vfs, ino) = try await mount(store, kernel)
        let (h, _) = try await vfs.open(ino, writable: false)
        _ = await read(vfs, h, 1 << 20, 4096)
        let offer = try #require(kernel.offers.first)
        #expect(offer.valid())
        let (w, _) = try await vfs.open(ino, writable: true)
        #expect(!offer.valid())  // the kernel's pages are the writer's now
        await vfs.release(w)
        await vfs.release(h)
    }

    @Test func anOpenDropsAnotherObjectsPagesBeforeItIsAnswered() async throws {
        let store = InMemoryObjectStore()
        let kernel = RecordingPageCache()
        let time = ManualTime()
        let (vfs, ino) = try await mount(store, kernel, time: time)
        // The first open: the kernel has no pages yet, nothing to drop.
        let (h1, keep1) = try await vfs.open(ino, writable: false)
        #expect(!keep1 && kernel.invalidated.isEmpty)
        _ = await read(vfs, h1, 1 << 20, 4096)
        await vfs.release(h1)
        let offer = try #require(kernel.offers.first)
        // The same object again: the pages are kept.
        let (h2, keep2) = try await vfs.open(ino, writable: false)
        #expect(keep2 && kernel.invalidated.isEmpty)
        await vfs.release(h2)
        // Replaced on OSS; once the attributes are stale an open asks OSS, finds the new
        // ETag, and drops the old pages before it returns.
        _ = try await store.putObject("f", bytes: Array(Self.data.reversed()))
        time.advance(3600)
        let (h3, keep3) = try await vfs.open(ino, writable: false)
        #expect(!keep3 && kernel.invalidated == [ino])
        #expect(!offer.valid())  // a store of the old object's pages still queued is dropped
        await vfs.release(h3)
        // The pages are the new object's now: the next open keeps them, drops nothing.
        let (h4, keep4) = try await vfs.open(ino, writable: false)
        #expect(keep4 && kernel.invalidated == [ino])
        await vfs.release(h4)
    }

    @Test func anOpenAfterAWriteHereDropsThePagesWithoutARequest() async throws {
        let store = CountingStore()
        let kernel = RecordingPageCache()
        let vfs = makeVFS(store) {
            $0.readOnly = false
            $0.kernelPageCache = kernel
        }
        let (e, w) = try await vfs.create(parent: 1, name: "g", mode: 0o644)
        #expect(try await vfs.write(w, offset: 0, bytes: [1, 2, 3]) == 3)
        await vfs.release(w)
        let heads = store.count("head")
        // The kernel may hold the written pages; the stored object has an ETag of its own.
        let (h, keep) = try await vfs.open(e.attributes.ino, writable: false)
        #expect(!keep && kernel.invalidated == [e.attributes.ino])
        #expect(store.count("head") == heads)  // attributes fresh: no request for that
        await vfs.release(h)
        let (h2, keep2) = try await vfs.open(e.attributes.ino, writable: false)
        #expect(keep2 && kernel.invalidated.count == 1)
        await vfs.release(h2)
    }

    @Test func aFileOfOneChunkFirstReadAtAnOffsetIsOfferedWhole() async throws {
        let store = InMemoryObjectStore()
        let kernel = RecordingPageCache()
        let small = Array(Self.data[0..<(100 << 10)])
        _ = try await store.putObject("s", bytes: small)
        let vfs = makeVFS(store) {
            $0.randomFill = 256 << 10
            $0.kernelPageCache = kernel
        }
        let e = try await vfs.lookup(parent: 1, name: "s")
        let (h, _) = try await vfs.open(e.attributes.ino, writable: false)
        #expect(await read(vfs, h, 50_000, 4096) == Array(small[50_000..<54_096]))
        // The object came whole (one chunk); all of it but the read's pages is offered.
        #expect(kernel.offers.map { $0.offset } == [0, 57_344])
        #expect(kernel.offers.map { $0.bytes } == [Array(small[0..<49_152]), Array(small[57_344...])])
        await vfs.release(h)
        // Read from its start (a sample read whole): nothing is offered.
        let other = RecordingPageCache()
        let vfs2 = makeVFS(store) {
            $0.randomFill = 256 << 10
            $0.kernelPageCache = other
        }
        let e2 = try await vfs2.lookup(parent: 1, name: "s")
        let (h2, _) = try await vfs2.open(e2.attributes.ino, writable: false)
        #expect(await read(vfs2, h2, 0, 128 << 10) == small)
        #expect(other.offers.isEmpty)
        await vfs2.release(h2)
    }
}
