// Lookups answered from a listing read ahead of them (ListAhead), alone and in the VFS.
import ObjectStore
import ObjectStoreTesting
import Testing
@testable import VFS

private func summary(_ key: String) -> ObjectSummary { ObjectSummary(key: key, size: 1, etag: ETag("e-" + key)) }

private func page(_ names: [String], in dir: String, token: String? = nil) -> ListPage {
    ListPage(objects: names.map { summary(dir + $0) }, isTruncated: token != nil, nextContinuationToken: token)
}

/// Waits (up to 10 s) for listings in flight to land, so what a lookup finds does not
/// depend on scheduling.
private func settle(_ vfs: VFS) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while vfs.listAheadLoading && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
    #expect(!vfs.listAheadLoading)
}

private func name(_ i: Int) -> String { "f" + String(repeating: "0", count: 5 - String(i).count) + String(i) }

@Suite struct ListAheadTests {
    @Test func secondMissStartsAListingAfterTheName() {
        var la = ListAhead(pageSize: 4)
        #expect(la.miss("d/", "a", now: 0) == nil)
        let load = la.miss("d/", "b", now: 0)
        #expect(load?.request.startAfter == "d/b" && load?.request.prefix == "d/" && load?.request.maxKeys == 4)
        #expect(la.miss("d/", "c", now: 0) == nil)  // one listing at a time
        la.loaded(load!, page(["c", "d", "e", "f"], in: "d/", token: "t1"), now: 1)
        #expect(la.miss("d/", "zz", now: 1) == nil)  // misses while it loaded do not count
        #expect(la.take("d/", "c", now: 2, ttl: 10).0 == .object(summary("d/c")))
        #expect(la.take("d/", "c", now: 2, ttl: 10).0 == nil)  // used up
        #expect(la.take("d/", "d", now: 2, ttl: 10).1 == nil)  // half a page left
        // Below half a page left: the next page, by continuation token.
        let (e, next) = la.take("d/", "e", now: 2, ttl: 10)
        #expect(e != nil && next?.request.continuationToken == "t1" && next?.request.startAfter == nil)
        #expect(la.take("d/", "f", now: 20, ttl: 10).0 == nil)  // too old
    }

    @Test func unusedListingsNeedMoreMissesNextTime() {
        var la = ListAhead(pageSize: 100)
        var misses = 0
        var loads = 0
        // Random lookups: every listing goes unused, so they grow rarer.
        for i in 0..<2000 {
            misses += 1
            if let load = la.miss("d/", "x\(i)", now: Double(i)) {
                loads += 1
                la.loaded(load, page((0..<100).map { "y\($0)" }, in: "d/"), now: Double(i))
            }
        }
        #expect(misses == 2000 && loads <= 8)
    }

    @Test func forgetAllDropsPagesAskedForBefore() {
        var la = ListAhead(pageSize: 10)
        _ = la.miss("d/", "a", now: 0)
        let load = la.miss("d/", "b", now: 0)!
        la.forgetAll()
        la.loaded(load, page(["c"], in: "d/"), now: 0)
        #expect(la.take("d/", "c", now: 0, ttl: 10).0 == nil)
        #expect(la.miss("d/", "c", now: 0) == nil && la.miss("d/", "d", now: 0) != nil)  // not stuck loading
    }

    @Test func readingADirectoryFileByFileCostsAListPerPage() async throws {
        let store = CountingStore()
        for i in 0..<3000 { _ = try await store.base.putObject("d/" + name(i), bytes: [UInt8(i % 256)]) }
        _ = try await store.base.putObject("d/sub/x", bytes: [])
        let vfs = makeVFS(store) { $0.listPageSize = 1000 }
        let d = try await vfs.lookup(parent: 1, name: "d")
        let heads = store.count("head")
        for i in 0..<3000 {
            let e = try await vfs.lookup(parent: d.attributes.ino, name: name(i))
            #expect(e.attributes.size == 1 && e.attributes.kind == .file)
            try await settle(vfs)
        }
        #expect(try await vfs.lookup(parent: d.attributes.ino, name: "sub").attributes.kind == .directory)
        #expect(store.count("head") - heads == 2)  // the two misses that started the listing
        #expect(store.count("list") <= 1 + 4)
        #expect(await errorOf { _ = try await vfs.lookup(parent: d.attributes.ino, name: "zz") } == .notFound)
    }

    @Test func listedFilesGetTheirModeFromOSSWhenAsked() async throws {
        let store = CountingStore()
        for i in 0..<5 {
            _ = try await store.base.putObject("d/" + name(i), bytes: [1], options: WriteOptions(userMetadata: ["mode": "\(0o100755)"]))
        }
        let vfs = makeVFS(store) { $0.fileMode = 0o644; $0.umask = 0 }
        let d = try await vfs.lookup(parent: 1, name: "d")
        for i in 0..<2 { #expect(try await vfs.lookup(parent: d.attributes.ino, name: name(i)).attributes.mode == 0o755) }
        try await settle(vfs)
        let listed = try await vfs.lookup(parent: d.attributes.ino, name: name(3))
        #expect(listed.attributes.mode == 0o644)  // a listing has no metadata
        // So its attributes are not answered from the cache: getattr (the kernel asks
        // before exec of a file without an x bit) fetches them.
        #expect(vfs.cachedAttributes(listed.attributes.ino) == nil)
        #expect(try await vfs.getattr(listed.attributes.ino).0.mode == 0o755)
        #expect(vfs.cachedAttributes(listed.attributes.ino)?.0.mode == 0o755)
    }

    @Test func deletesThroughTheMountAreNotAnsweredFromAListing() async throws {
        let store = CountingStore()
        for i in 0..<10 { _ = try await store.base.putObject("d/" + name(i), bytes: [1]) }
        let vfs = makeVFS(store) { $0.readOnly = false }
        let d = try await vfs.lookup(parent: 1, name: "d")
        for i in 0..<2 { _ = try await vfs.lookup(parent: d.attributes.ino, name: name(i)) }
        try await settle(vfs)
        try await vfs.unlink(parent: d.attributes.ino, name: name(5))
        #expect(await errorOf { _ = try await vfs.lookup(parent: d.attributes.ino, name: name(5)) } == .notFound)
        let off = makeVFS(store) { $0.listAhead = false }
        let d2 = try await off.lookup(parent: 1, name: "d")
        let lists = store.count("list")
        for i in 6..<10 { _ = try await off.lookup(parent: d2.attributes.ino, name: name(i)) }
        #expect(store.count("list") == lists)
    }
}
