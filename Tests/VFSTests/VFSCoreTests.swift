// The VFS without a kernel: against InMemoryObjectStore, on a manual clock.
import ObjectStore
import ObjectStoreTesting
import Synchronization
import Testing
@testable import VFS

final class ManualTime: Sendable {
    private let t = Mutex(1000.0)
    var now: Double { t.withLock { $0 } }
    func advance(_ s: Double) { t.withLock { $0 += s } }
    var clock: VFSClock { VFSClock { self.now } }
}

/// Counts what reaches the store.
final class CountingStore: ObjectClient {
    let base = InMemoryObjectStore()
    let counts = Mutex<[String: Int]>([:])
    func count(_ op: String) -> Int { counts.withLock { $0[op] ?? 0 } }
    private func hit(_ op: String) { counts.withLock { $0[op, default: 0] += 1 } }

    func headObject(_ key: String, ifMatch: ETag?) async throws -> ObjectInfo { hit("head"); return try await base.headObject(key, ifMatch: ifMatch) }
    func getObject(_ key: String, range: ByteRange?, ifMatch: ETag?, into d: ReadDestination) async throws -> GetResult {
        hit("get"); return try await base.getObject(key, range: range, ifMatch: ifMatch, into: d)
    }
    func putObject(_ key: String, body: UploadBody, options: WriteOptions) async throws -> WriteResult { try await base.putObject(key, body: body, options: options) }
    func appendObject(_ key: String, position: UInt64, body: UploadBody, options: WriteOptions, previousCRC: UInt64?) async throws -> AppendResult {
        try await base.appendObject(key, position: position, body: body, options: options, previousCRC: previousCRC)
    }
    func listObjects(_ request: ListRequest) async throws -> ListPage { hit("list"); return try await base.listObjects(request) }
    func deleteObject(_ key: String) async throws { try await base.deleteObject(key) }
    func deleteObjects(_ keys: [String]) async throws -> [String] { try await base.deleteObjects(keys) }
    func copyObject(from s: String, to d: String, directive: MetadataDirective, sourceIfMatch: ETag?) async throws -> WriteResult {
        try await base.copyObject(from: s, to: d, directive: directive, sourceIfMatch: sourceIfMatch)
    }
    func initiateMultipartUpload(_ key: String, options: WriteOptions) async throws -> String { try await base.initiateMultipartUpload(key, options: options) }
    func uploadPart(_ key: String, uploadId: String, partNumber: Int, body: UploadBody) async throws -> PartInfo {
        try await base.uploadPart(key, uploadId: uploadId, partNumber: partNumber, body: body)
    }
    func uploadPartCopy(_ key: String, uploadId: String, partNumber: Int, source: String, range: ByteRange?, sourceIfMatch: ETag?) async throws -> PartInfo {
        try await base.uploadPartCopy(key, uploadId: uploadId, partNumber: partNumber, source: source, range: range, sourceIfMatch: sourceIfMatch)
    }
    func completeMultipartUpload(_ key: String, uploadId: String, parts: [PartInfo]) async throws -> WriteResult {
        try await base.completeMultipartUpload(key, uploadId: uploadId, parts: parts)
    }
    func abortMultipartUpload(_ key: String, uploadId: String) async throws { try await base.abortMultipartUpload(key, uploadId: uploadId) }
    func listParts(_ key: String, uploadId: String, partNumberMarker: Int?, maxParts: Int) async throws -> PartsPage {
        try await base.listParts(key, uploadId: uploadId, partNumberMarker: partNumberMarker, maxParts: maxParts)
    }
    func listMultipartUploads(prefix: String, keyMarker: String?, uploadIdMarker: String?, maxUploads: Int) async throws -> UploadsPage {
        try await base.listMultipartUploads(prefix: prefix, keyMarker: keyMarker, uploadIdMarker: uploadIdMarker, maxUploads: maxUploads)
    }
    func putSymlink(_ key: String, target: String, options: WriteOptions) async throws -> WriteResult { try await base.putSymlink(key, target: target, options: options) }
    func getSymlink(_ key: String) async throws -> SymlinkInfo { try await base.getSymlink(key) }
}

func makeVFS(_ store: ObjectClient, time: ManualTime = ManualTime(), configure: (inout VFSConfig) -> Void = { _ in }) -> VFS {
    var config = VFSConfig()
    configure(&config)
    return VFS(client: store, config: config, clock: time.clock)
}

func errorOf(_ body: () async throws -> Void) async -> VFSError? {
    do { try await body(); return nil } catch { return error as? VFSError }
}

@Suite struct VFSCoreTests {
    @Test func lookupThenForgetLeavesOnlyTheRoot() async throws {
        let store = CountingStore()
        for k in ["a.txt", "d/b.txt", "d/e/c.txt", "m/"] { _ = try await store.base.putObject(k, bytes: [1]) }
        let vfs = makeVFS(store)
        let a = try await vfs.lookup(parent: 1, name: "a.txt")
        let d = try await vfs.lookup(parent: 1, name: "d")
        let e = try await vfs.lookup(parent: d.attributes.ino, name: "e")
        let c = try await vfs.lookup(parent: e.attributes.ino, name: "c.txt")
        let again = try await vfs.lookup(parent: 1, name: "a.txt")
        let m = try await vfs.lookup(parent: 1, name: "m")
        #expect(a.attributes.kind == .file && d.attributes.kind == .directory && m.attributes.kind == .directory)
        #expect(again.attributes.ino == a.attributes.ino)
        #expect(vfs.inodeCount == 6)
        vfs.forget(a.attributes.ino, count: 2)
        for n in [d, e, c, m] { vfs.forget(n.attributes.ino, count: 1) }
        #expect(vfs.inodeCount == 1)
        #expect(await errorOf { _ = try await vfs.lookup(parent: 1, name: "missing") } == .notFound)
    }

    @Test func attributesExpireOnTheClock() async throws {
        let store = CountingStore()
        _ = try await store.base.putObject("f", bytes: [1, 2, 3])
        let time = ManualTime()
        let vfs = makeVFS(store, time: time) { $0.attrTimeout = 10; $0.entryTimeout = 10 }
        let f = try await vfs.lookup(parent: 1, name: "f")
        _ = try await store.base.putObject("f", bytes: [1, 2, 3, 4, 5])
        let heads = store.count("head")
        time.advance(9)
        #expect(try await vfs.getattr(f.attributes.ino).0.size == 3)  // cached
        #expect(store.count("head") == heads)
        time.advance(2)
        #expect(try await vfs.getattr(f.attributes.ino).0.size == 5)  // expired: asked again
        #expect(store.count("head") == heads + 1)
    }

    @Test func negativeEntriesAreRememberedForNegativeTimeout() async throws {
        let store = CountingStore()
        let time = ManualTime()
        let vfs = makeVFS(store, time: time) { $0.negativeTimeout = 5 }
        #expect(await errorOf { _ = try await vfs.lookup(parent: 1, name: "x") } == .notFound)
        let asked = store.count("head")
        _ = try await store.base.putObject("x", bytes: [1])
        #expect(await errorOf { _ = try await vfs.lookup(parent: 1, name: "x") } == .notFound)
        #expect(store.count("head") == asked)
        time.advance(6)
        #expect(try await vfs.lookup(parent: 1, name: "x").attributes.size == 1)
    }

    @Test func readdirPagesThroughTheListingAndFillsTheCache() async throws {
        let store = CountingStore()
        for i in 0..<2500 { _ = try await store.base.putObject("big/f" + String(repeating: "0", count: 5 - String(i).count) + String(i), bytes: Array(repeating: 1, count: i % 10)) }
        _ = try await store.base.putObject("big/sub/x", bytes: [])
        _ = try await store.base.putObject("big/", bytes: [])
        let vfs = makeVFS(store) { $0.listPageSize = 1000 }
        let dir = try await vfs.lookup(parent: 1, name: "big")
        let h = try await vfs.opendir(dir.attributes.ino)
        let lists = store.count("list")
        var names: [String] = []
        var offset: Int64 = 0
        // The kernel reads in batches of ~100 entries, continuing from the last offset.
        while true {
            var batch: [DirectoryEntry] = []
            try await vfs.readdir(dir.attributes.ino, handle: h, offset: offset, plus: true) { e in
                guard batch.count < 100 else { return false }
                batch.append(e)
                return true
            }
            if batch.isEmpty { break }
            names += batch.map(\.name)
            offset = batch.last!.nextOffset
        }
        vfs.releasedir(h)
        #expect(names.count == 2 + 2500 + 1)
        #expect(names.prefix(2) == [".", ".."])
        #expect(names.contains("sub") && !names.contains(""))
        #expect(store.count("list") - lists == 3)
        // Every entry's attributes came with the listing: no HEAD to stat them.
        let heads = store.count("head")
        let f7 = try await vfs.lookup(parent: dir.attributes.ino, name: "f00007")
        #expect(f7.attributes.size == 7)
        #expect(store.count("head") == heads)
    }

    @Test func readsArePinnedToTheETagSeenAtOpen() async throws {
        let store = CountingStore()
        _ = try await store.base.putObject("f", bytes: Array(repeating: 1, count: 1 << 20))
        let vfs = makeVFS(store) { $0.prefetchChunkSize = 64 << 10 }
        let f = try await vfs.lookup(parent: 1, name: "f")
        let (h, _) = try await vfs.open(f.attributes.ino, writable: false)
        #expect(try await vfs.read(h, offset: 0, size: 4096).bytes == Array(repeating: 1, count: 4096))
        _ = try await store.base.putObject("f", bytes: Array(repeating: 2, count: 1 << 20))
        #expect(await errorOf { _ = try await vfs.read(h, offset: 500_000, size: 4096) } == .stale)
        await vfs.release(h)
        #expect(await errorOf { _ = try await vfs.open(f.attributes.ino, writable: true) } == .readOnly)
    }

    @Test func sixteenConcurrentReadersStayWithinTheMemoryBound() async throws {
        let store = CountingStore()
        let size = 4 << 20
        let base = [UInt8]((0..<size).map { UInt8(truncatingIfNeeded: $0 * 31 + $0 >> 9) })
        let contents = (0..<16).map { i in Array(base[(i * 4096)...] + base[..<(i * 4096)]) }
        for i in 0..<16 { _ = try await store.base.putObject("r\(i)", bytes: contents[i]) }
        // 16 readers each wanting 8 chunks of 256 KiB ahead would take 32 MiB; the pool has 3.
        let limit = 3 << 20
        let vfs = makeVFS(store) {
            $0.prefetchChunkSize = 256 << 10
            $0.prefetchConcurrency = 8
            $0.totalMemLimit = limit
        }
        let ok = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<16 {
                group.addTask {
                    let f = try await vfs.lookup(parent: 1, name: "r\(i)")
                    let (h, _) = try await vfs.open(f.attributes.ino, writable: false)
                    var offset = 0
                    while offset < size {
                        let got = try await vfs.read(h, offset: Int64(offset), size: 128 << 10).bytes
                        if got.isEmpty || got[...] != contents[i][offset..<(offset + got.count)] { return false }
                        offset += got.count
                    }
                    await vfs.release(h)
                    return true
                }
            }
            return try await group.reduce(true) { $0 && $1 }
        }
        #expect(ok)
        #expect(vfs.pool.peak <= limit)
        #expect(vfs.pool.peak > 0)  // prefetching did happen
        print("16 readers: pool peak \(vfs.pool.peak >> 10) KiB of \(limit >> 10) KiB")
    }

    @Test func prefetchGETsInFlightStayWithinTheMountsBudget() async throws {
        let store = CountingStore()
        let size = 2 << 20
        let contents = (0..<8).map { i in [UInt8]((0..<size).map { UInt8(truncatingIfNeeded: $0 &* (i + 3) + $0 >> 11) }) }
        for i in 0..<8 { _ = try await store.base.putObject("b\(i)", bytes: contents[i]) }
        func run(budget: Int) async throws -> (Bool, Int) {
            let vfs = makeVFS(store) {
                $0.prefetchChunkSize = 64 << 10
                $0.prefetchConcurrency = 8
                $0.prefetchBudget = budget
            }
            let ok = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        let f = try await vfs.lookup(parent: 1, name: "b\(i)")
                        let (h, _) = try await vfs.open(f.attributes.ino, writable: false)
                        var offset = 0
                        while offset < size {
                            let got = try await vfs.read(h, offset: Int64(offset), size: 32 << 10).bytes
                            if got.isEmpty || got[...] != contents[i][offset..<(offset + got.count)] { return false }
                            offset += got.count
                        }
                        await vfs.release(h)
                        return true
                    }
                }
                return try await group.reduce(true) { $0 && $1 }
            }
            return (ok, vfs.prefetchBudget.peak)
        }
        let (capped, cappedPeak) = try await run(budget: 2)
        #expect(capped && cappedPeak <= 2 && cappedPeak > 0)
        // Without the cap, 8 readers with windows of 8 do pass 2 at once.
        let (free, freePeak) = try await run(budget: 256)
        #expect(free && freePeak > 2)
    }

    @Test func relativeSymlinkTargets() {
        #expect(VFS.relativeTarget("data/a/b.txt", linkKey: "data/a/link") == "b.txt")
        #expect(VFS.relativeTarget("data/x/y.txt", linkKey: "data/a/b/link") == "../../x/y.txt")
        // A key outside the mount's prefix climbs out of it, as `ln -s ../other/z` wrote it.
        #expect(VFS.relativeTarget("other/z", linkKey: "data/link") == "../other/z")
        #expect(VFS.relativeTarget("x/y", linkKey: "d/e/link") == "../../x/y")
        #expect(VFS.relativeTarget("top", linkKey: "link") == "top")
        // An absolute target stays as written.
        #expect(VFS.relativeTarget("/etc/hosts", linkKey: "d/e/link") == "/etc/hosts")
        #expect(VFS.relativeTarget("/", linkKey: "link") == "/")
        // Above the bucket's root a relative target keeps its ".." both ways.
        #expect(VFS.targetKey("../../x", linkDirectory: "d/") == "../x")
        #expect(VFS.relativeTarget("../x", linkKey: "d/link") == "../../x")
        #expect(VFS.targetKey("../x", linkDirectory: "") == "../x")
        #expect(VFS.relativeTarget("../x", linkKey: "link") == "../x")
        #expect(VFS.targetKey("a/../../b/./c", linkDirectory: "p/q/") == "p/b/c")
    }
}
