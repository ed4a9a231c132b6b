// The stat cache beyond the kernel's (ForgottenFiles): a file whose inode the
// kernel forgot is looked up again without a HEAD while its entry_timeout lasts, and
// never after this mount changed its key.
import ObjectStore
import Testing
@testable import VFS

@Suite struct ForgottenFilesTests {
    /// Looks `names` up once and has the kernel forget each.
    func lookUpAndForget(_ vfs: VFS, _ names: [String]) async throws -> [String: Entry] {
        var entries: [String: Entry] = [:]
        for n in names {
            let e = try await vfs.lookup(parent: 1, name: n)
            vfs.forget(e.attributes.ino, count: 1)
            entries[n] = e
        }
        return entries
    }

    @Test func aForgottenFileIsLookedUpAgainWithoutAHeadAndReads() async throws {
        let store = CountingStore()
        _ = try await store.base.putObject("f", bytes: [1, 2, 3])
        let vfs = makeVFS(store)
        let first = try await lookUpAndForget(vfs, ["f"])["f"]!
        #expect(vfs.inodeCount == 1)
        let heads = store.count("head")
        let again = try await vfs.lookup(parent: 1, name: "f")
        #expect(store.count("head") == heads)
        #expect(again.attributes.ino != first.attributes.ino)  // numbers are never reused
        #expect(again.attributes.size == 3 && again.attributes.mtime == first.attributes.mtime)
        #expect(try await vfs.getattr(again.attributes.ino).0.ino == again.attributes.ino)
        let h = try await vfs.open(again.attributes.ino, writable: false).handle
        #expect(try await vfs.read(h, offset: 0, size: 10).bytes == [1, 2, 3])
        await vfs.release(h)
    }

    @Test func itLastsWhatIsLeftOfTheEntryTimeout() async throws {
        let store = CountingStore()
        _ = try await store.base.putObject("f", bytes: [1])
        let time = ManualTime()
        let vfs = makeVFS(store, time: time) { $0.entryTimeout = 10; $0.attrTimeout = 10 }
        _ = try await lookUpAndForget(vfs, ["f"])
        time.advance(6)
        _ = try await lookUpAndForget(vfs, ["f"])  // revived, forgotten again: still validated at 0
        let heads = store.count("head")
        time.advance(5)
        _ = try await vfs.lookup(parent: 1, name: "f")
        #expect(store.count("head") == heads + 1)
    }

    @Test func aFileRemovedOrRenamedHereIsNotRevived() async throws {
        let store = CountingStore()
        for (k, n) in [("gone", 1), ("a", 2), ("b", 3)] { _ = try await store.base.putObject(k, bytes: [UInt8](repeating: 7, count: n)) }
        let vfs = makeVFS(store) { $0.readOnly = false }
        _ = try await lookUpAndForget(vfs, ["gone", "a", "b"])
        try await vfs.unlink(parent: 1, name: "gone")
        #expect(await errorOf { _ = try await vfs.lookup(parent: 1, name: "gone") } == .notFound)
        try await vfs.rename(parent: 1, name: "a", newParent: 1, newName: "b", noReplace: false, exchange: false)
        #expect(try await vfs.lookup(parent: 1, name: "b").attributes.size == 2)  // a's bytes, not b's kept size
        #expect(await errorOf { _ = try await vfs.lookup(parent: 1, name: "a") } == .notFound)
    }

    @Test func aDirectoryRenameDropsTheFilesUnderIt() async throws {
        let store = CountingStore()
        _ = try await store.base.putObject("d/f", bytes: [1])
        let vfs = makeVFS(store) { $0.readOnly = false }
        let d = try await vfs.lookup(parent: 1, name: "d")
        let f = try await vfs.lookup(parent: d.attributes.ino, name: "f")
        vfs.forget(f.attributes.ino, count: 1)
        try await vfs.rename(parent: 1, name: "d", newParent: 1, newName: "e", noReplace: false, exchange: false)
        let e = try await vfs.lookup(parent: 1, name: "e")
        #expect(try await vfs.lookup(parent: e.attributes.ino, name: "f").attributes.size == 1)
        // d's inode is now e's: d/f is gone, whatever was kept of it.
        #expect(await errorOf { _ = try await vfs.lookup(parent: 1, name: "d") } == .notFound)
    }

    @Test func theOldestGoFirstPastTheSize() async throws {
        let store = CountingStore()
        for k in ["a", "b", "c"] { _ = try await store.base.putObject(k, bytes: [1]) }
        let vfs = makeVFS(store) { $0.statCacheSize = 2 }
        _ = try await lookUpAndForget(vfs, ["a", "b", "c"])
        let heads = store.count("head")
        for k in ["b", "c"] { _ = try await vfs.lookup(parent: 1, name: k) }
        #expect(store.count("head") == heads)
        _ = try await vfs.lookup(parent: 1, name: "a")
        #expect(store.count("head") == heads + 1)
    }

    @Test func sizeZeroKeepsNothing() async throws {
        let store = CountingStore()
        _ = try await store.base.putObject("f", bytes: [1])
        let vfs = makeVFS(store) { $0.statCacheSize = 0 }
        _ = try await lookUpAndForget(vfs, ["f"])
        let heads = store.count("head")
        _ = try await vfs.lookup(parent: 1, name: "f")
        #expect(store.count("head") == heads + 1)
    }

    @Test func theQueueOfKeysStaysBounded() {
        var kept = ForgottenFiles(capacity: 4)
        let attributes = FileAttributes(ino: 9, kind: .file, size: 1, mode: 0o644, uid: 0, gid: 0, mtime: Timestamp(seconds: 0, nanoseconds: 0))
        for i in 0..<10_000 {
            kept.keep("k\(i % 8)", ForgottenFiles.File(kind: .file, attributes: attributes, etag: ETag("e"), validatedAt: 0, fromListing: false))
        }
        #expect(kept.count == 4)
        #expect(kept.queued <= 2 * 4 + 1024 + 1)
        #expect(kept.take("k7", now: 1, ttl: 10) != nil && kept.take("k0", now: 1, ttl: 10) == nil)
    }
}
