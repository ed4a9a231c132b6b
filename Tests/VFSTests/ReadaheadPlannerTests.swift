// The prefetcher's decisions for each access pattern, without any I/O.
import Testing
@testable import VFS

@Suite struct ReadaheadPlannerTests {
    let mib: UInt64 = 1 << 20

    @Test func sequentialReaderEarnsAGrowingWindow() {
        var p = ReadaheadPlanner(chunkSize: 8 * mib, fileSize: 100 * 8 * mib, maxWindow: 8)
        // First read: direct (time to first byte), chunk 1 starts.
        var d = p.read(offset: 0, size: Int(mib))
        #expect(d.serveFrom == [] && d.fetch == [1])
        // Keeps reading where it stopped: the window doubles; chunk 0 was never fetched,
        // so reads inside it stay direct.
        d = p.read(offset: mib, size: Int(mib))
        #expect(d.serveFrom == [] && d.fetch == [2])
        d = p.read(offset: 2 * mib, size: Int(mib))
        #expect(d.serveFrom == [] && d.fetch == [3, 4])
        // Into chunk 1, which was fetched ahead: served from it.
        d = p.read(offset: 8 * mib, size: Int(mib))
        #expect(d.serveFrom == [1] && d.fetch == [5, 6, 7, 8, 9])
        var windows: [Int] = [p.window]
        var offset = 3 * mib
        while offset < 40 * 8 * mib {
            _ = p.read(offset: offset, size: Int(mib))
            windows.append(p.window)
            offset += mib
        }
        #expect(windows.max() == 8)  // capped at maxWindow
        // Memory stays bounded: one chunk behind, the current one, and the window ahead.
        #expect(p.resident.count <= 8 + 2)
    }

    @Test func windowNeverRunsPastTheEnd() {
        var p = ReadaheadPlanner(chunkSize: 8 * mib, fileSize: 3 * 8 * mib + 5, maxWindow: 8)
        var offset: UInt64 = 0
        var fetched: Set<Int> = []
        while offset < p.fileSize {
            let d = p.read(offset: offset, size: Int(mib))
            fetched.formUnion(d.fetch)
            #expect(d.fetch.allSatisfy { $0 < p.chunkCount })
            offset += mib
        }
        #expect(fetched.isSubset(of: [0, 1, 2, 3]))
        #expect(p.read(offset: p.fileSize, size: 10) == .init(serveFrom: [], fetch: [], evict: []))
    }

    @Test func smallBackwardSeekIsServedFromTheWindow() {
        var p = ReadaheadPlanner(chunkSize: 4 * mib, fileSize: 64 * mib, maxWindow: 4)
        var offset: UInt64 = 0
        for _ in 0..<10 {
            _ = p.read(offset: offset, size: Int(mib))
            offset += mib
        }
        // Back by 2 MiB, inside resident chunks: no fetch, no direct read.
        let d = p.read(offset: offset - 2 * mib, size: Int(mib))
        #expect(!d.serveFrom.isEmpty && d.fetch.isEmpty)
    }

    @Test func randomReadsGoDirectAndDropTheWindow() {
        var p = ReadaheadPlanner(chunkSize: 4 * mib, fileSize: 1024 * mib, maxWindow: 4)
        _ = p.read(offset: 0, size: Int(mib))
        _ = p.read(offset: mib, size: Int(mib))
        #expect(!p.resident.isEmpty)
        let d = p.read(offset: 700 * mib, size: 4096)
        #expect(d.serveFrom.isEmpty && d.fetch.isEmpty)
        #expect(!d.evict.isEmpty && p.resident.isEmpty && p.window == 0)
        let again = p.read(offset: 300 * mib, size: 4096)
        #expect(again.serveFrom.isEmpty && again.fetch.isEmpty)
    }

    @Test func smallFilesAreFetchedWholeOnce() {
        var p = ReadaheadPlanner(chunkSize: 8 * mib, fileSize: 100_000, maxWindow: 8)
        let first = p.read(offset: 50_000, size: 4096)
        #expect(first == .init(serveFrom: [0], fetch: [0], evict: []))
        let second = p.read(offset: 0, size: 4096)
        #expect(second == .init(serveFrom: [0], fetch: [], evict: []))
    }

    @Test func memoryPressureHalvesTheWindow() {
        var p = ReadaheadPlanner(chunkSize: mib, fileSize: 100 * mib, maxWindow: 16)
        var offset: UInt64 = 0
        for _ in 0..<8 {
            _ = p.read(offset: offset, size: Int(mib))
            offset += mib
        }
        let before = p.window
        p.couldNotFetch([Int(offset / mib) + 1])
        #expect(p.window == max(1, before / 2))
    }
}
