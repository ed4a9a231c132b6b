// Per-key ordering and the write state machine, without a kernel: the sequences
// the [posix] issue saw fail, driven through the VFS against InMemoryObjectStore.
import ObjectStore
import ObjectStoreTesting
import Synchronization
import Testing
@testable import VFS

/// What the lock tests saw, shared with their Tasks.
private final class Recorder: Sendable {
    let log = Mutex<[String]>([])
    let released = Mutex(false)
    func add(_ s: String) { log.withLock { $0.append(s) } }
    var entries: [String] { log.withLock { $0 } }
}

@Suite struct KeyLocksTests {
    @Test func oneKeyRunsInArrivalOrderOthersRunBeside() async throws {
        let locks = KeyLocks()
        let r = Recorder()
        // The first holder of "a" waits until released; a later "a" must wait for it, "b" must not.
        let first = Task {
            try await locks.with("a") { () async throws(VFSError) in
                r.add("a1 start")
                while !r.released.withLock({ $0 }) { await Task.yield() }
                r.add("a1 end")
            }
        }
        while !r.entries.contains("a1 start") { await Task.yield() }
        let second = Task { try await locks.with("a") { () async throws(VFSError) in r.add("a2") } }
        try await locks.with("b") { () async throws(VFSError) in r.add("b") }
        #expect(r.entries == ["a1 start", "b"])
        r.released.withLock { $0 = true }
        try await first.value
        try await second.value
        #expect(r.entries == ["a1 start", "b", "a1 end", "a2"])
        #expect(locks.count == 0)
    }

    @Test func severalKeysTakenInOrderDoNotDeadlock() async throws {
        let locks = KeyLocks()
        let r = Recorder()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                let keys = i % 2 == 0 ? ["x", "y"] : ["y", "x"]
                group.addTask { try await locks.with(keys) { () async throws(VFSError) in r.add("\(i)") } }
            }
            try await group.waitForAll()
        }
        #expect(r.entries.count == 200)
        #expect(locks.count == 0)
    }
}

@Suite struct ObjectMetadataTests {
    @Test func mtimeKeepsNanosecondsBothWays() {
        let t = Timestamp(seconds: 1_600_000_000, nanoseconds: 123_456_789)
        #expect(TimeMetadata.format(t) == "1600000000.123456789")
        #expect(TimeMetadata.parse("1600000000.123456789") == t)
        #expect(TimeMetadata.format(Timestamp(seconds: 5, nanoseconds: 7)) == "5.000000007")
        #expect(TimeMetadata.format(Timestamp(seconds: 1_600_000_000)) == "1600000000")
        #expect(TimeMetadata.parse("1600000000") == Timestamp(seconds: 1_600_000_000))
        #expect(TimeMetadata.parse("1600000000.5") == Timestamp(seconds: 1_600_000_000, nanoseconds: 500_000_000))
        for bad in ["", "x", "1.", "1.2x", ".5"] { #expect(TimeMetadata.parse(bad) == nil, "\(bad)") }
    }

    @Test func contentTypeFromTheName() {
        let types = ContentTypes(file: nil)
        #expect(types.type(forKey: "a/b/page.HTML") == "text/html")
        #expect(types.type(forKey: "x.json") == "application/json")
        #expect(types.type(forKey: "noext") == nil)
        #expect(types.type(forKey: "dir/.hidden") == nil)
        #expect(types.type(forKey: "dir/") == nil)
    }
}

/// A VFS over a fresh store, writable.
private func writable(_ store: ObjectClient = InMemoryObjectStore()) -> VFS {
    makeVFS(store) { $0.readOnly = false; $0.mimeTypesFile = nil }
}

private func contents(_ store: InMemoryObjectStore, _ key: String) async -> [UInt8]? {
    try? await store.getBytes(key, ifMatch: nil)
}

@Suite struct OrderingTests {
    @Test func touchThenTruncateStoresTheSize() async throws {
        let store = InMemoryObjectStore()
        let vfs = writable(store)
        let (e, h) = try await vfs.create(parent: 1, name: "f", mode: 0o644)
        _ = try await vfs.setattr(e.attributes.ino, AttributeChange(mtime: Timestamp(seconds: 1_600_000_000)), handle: h)
        try await vfs.flush(h)
        #expect(await contents(store, "f") == [])  // close stored it
        // truncate -s 1024 opens a second handle while the first is not released yet.
        let (h2, _) = try await vfs.open(e.attributes.ino, writable: true)
        _ = try await vfs.setattr(e.attributes.ino, AttributeChange(size: 1024), handle: h2)
        try await vfs.flush(h2)
        await vfs.release(h)  // the first handle's late release stores nothing
        await vfs.release(h2)
        #expect(await contents(store, "f") == [UInt8](repeating: 0, count: 1024))
        #expect(try await store.headObject("f", ifMatch: nil).userMetadata["mtime"] != nil)
    }

    @Test func unlinkOfAFileOpenForWritingStoresNothing() async throws {
        let store = InMemoryObjectStore()
        let vfs = writable(store)
        let (_, h) = try await vfs.create(parent: 1, name: "f", mode: 0o644)
        _ = try await vfs.write(h, offset: 0, bytes: Array("before".utf8))
        try await vfs.flush(h)
        try await vfs.unlink(parent: 1, name: "f")
        _ = try await vfs.write(h, offset: 6, bytes: Array(" after".utf8))
        try await vfs.flush(h)
        await vfs.release(h)
        #expect(await contents(store, "f") == nil)
        await #expect(throws: VFSError.notFound) { try await vfs.lookup(parent: 1, name: "f") }
    }

    @Test func anUnlinkedFileStillOpenLeavesItsNameFree() async throws {
        let vfs = writable()
        let (_, h) = try await vfs.create(parent: 1, name: "f", mode: 0o644)
        try await vfs.unlink(parent: 1, name: "f")
        // The orphaned descriptor no longer holds the name.
        await #expect(throws: VFSError.notFound) { try await vfs.unlink(parent: 1, name: "f") }
        _ = try await vfs.mkdir(parent: 1, name: "f", mode: 0o755)
        _ = try await vfs.write(h, offset: 0, bytes: [1, 2, 3])
        try await vfs.flush(h)
        await vfs.release(h)
        #expect(try await vfs.lookup(parent: 1, name: "f").attributes.kind == .directory)
    }

    @Test func renameOfAFileOpenForWritingMovesItsBytes() async throws {
        let store = InMemoryObjectStore()
        let vfs = writable(store)
        let (_, h) = try await vfs.create(parent: 1, name: "old", mode: 0o644)
        _ = try await vfs.write(h, offset: 0, bytes: Array("first ".utf8))
        try await vfs.rename(parent: 1, name: "old", newParent: 1, newName: "new", noReplace: false, exchange: false)
        _ = try await vfs.write(h, offset: 6, bytes: Array("second".utf8))
        try await vfs.flush(h)
        await vfs.release(h)
        #expect(await contents(store, "old") == nil)
        #expect(await contents(store, "new") == Array("first second".utf8))
    }

    @Test func metadataChangedWhileAMultipartUploadRunsIsStoredAfterIt() async throws {
        let store = InMemoryObjectStore()
        let vfs = makeVFS(store) { $0.readOnly = false; $0.uploadBufferSize = 1 << 20; $0.mimeTypesFile = nil }
        let (e, h) = try await vfs.create(parent: 1, name: "big", mode: 0o644)
        _ = try await vfs.write(h, offset: 0, bytes: [UInt8](repeating: 7, count: (1 << 20) + 10))  // a part went out
        _ = try await vfs.setattr(e.attributes.ino, AttributeChange(mode: 0o600), handle: nil)
        try await vfs.flush(h)
        await vfs.release(h)
        let info = try await store.headObject("big", ifMatch: nil)
        #expect(info.size == (1 << 20) + 10)
        #expect(info.userMetadata["mode"] == String(0o600))  // the upload began with 0o644
    }

    @Test func rmdirSeesAFileCreatedButNotStored() async throws {
        let vfs = writable()
        let d = try await vfs.mkdir(parent: 1, name: "d", mode: 0o755)
        let (_, h) = try await vfs.create(parent: d.attributes.ino, name: "f", mode: 0o644)
        await #expect(throws: VFSError.notEmpty) { try await vfs.rmdir(parent: 1, name: "d") }
        try await vfs.flush(h)
        await vfs.release(h)
        try await vfs.unlink(parent: d.attributes.ino, name: "f")
        try await vfs.rmdir(parent: 1, name: "d")
        // A create in the removed directory: ENOENT, as on a local disk.
        await #expect(throws: VFSError.notFound) { try await vfs.create(parent: d.attributes.ino, name: "g", mode: 0o644) }
    }

    /// OSS keys are at most 1023 bytes: a name whose key would be longer is ENAMETOOLONG
    /// before any request, for files, directory markers, lookups and the keys a
    /// directory rename would give its children; a key of exactly 1023 bytes works.
    @Test func namesWhoseKeysPassOSSsLongestAreRefused() async throws {
        let store = InMemoryObjectStore()
        let vfs = writable(store)
        var parent: InodeNumber = 1, path = ""
        for level in 0..<4 {  // four directories: a key of 4 x 201 = 804 bytes
            let name = String(repeating: Character(String(level)), count: 200)
            parent = try await vfs.mkdir(parent: parent, name: name, mode: 0o755).attributes.ino
            path += name + "/"
        }
        let fits = String(repeating: "f", count: 1023 - path.utf8.count)
        let (_, h) = try await vfs.create(parent: parent, name: fits, mode: 0o644)
        try await vfs.flush(h)
        await vfs.release(h)
        #expect(try await store.headObject(path + fits, ifMatch: nil).size == 0)
        _ = try await vfs.lookup(parent: parent, name: fits)
        let tooLong = fits + "f"
        await #expect(throws: VFSError.nameTooLong) { try await vfs.create(parent: parent, name: tooLong, mode: 0o644) }
        await #expect(throws: VFSError.nameTooLong) { try await vfs.lookup(parent: parent, name: tooLong) }
        // A directory's marker is its key and a "/": one byte less for its name.
        await #expect(throws: VFSError.nameTooLong) {
            try await vfs.mkdir(parent: parent, name: String(fits.dropLast()) + "é", mode: 0o755)
        }
        _ = try await vfs.mkdir(parent: parent, name: String(fits.dropLast()), mode: 0o755)
        // A link's target is a key as well.
        await #expect(throws: VFSError.nameTooLong) { try await vfs.symlink(target: tooLong, parent: parent, name: "l") }
        _ = try await vfs.symlink(target: fits, parent: parent, name: "l")
        // Renamed to a longer name, the first directory's deepest file would pass 1023 bytes.
        let first = String(repeating: "0", count: 200)
        await #expect(throws: VFSError.nameTooLong) {
            try await vfs.rename(parent: 1, name: first, newParent: 1, newName: first + "x", noReplace: false, exchange: false)
        }
        #expect(try await store.headObject(path + fits, ifMatch: nil).size == 0)
        #expect(try await vfs.lookup(parent: 1, name: first).attributes.kind == .directory)
    }

    @Test func aRemovedFileStaysReadableForItsReaders() async throws {
        let store = InMemoryObjectStore()
        let bytes = (0..<100_000).map { UInt8($0 % 251) }
        _ = try await store.putObject("f", bytes: bytes)
        let vfs = writable(store)
        let e = try await vfs.lookup(parent: 1, name: "f")
        let (h, _) = try await vfs.open(e.attributes.ino, writable: false)
        try await vfs.unlink(parent: 1, name: "f")
        await #expect(throws: VFSError.notFound) { try await vfs.lookup(parent: 1, name: "f") }
        let read = try await vfs.read(h, offset: 0, size: bytes.count)
        #expect(read.bytes == bytes)
        #expect(await contents(store, "f") != nil)  // kept for the reader
        await vfs.release(h)
        // Deleted at the last reader's close (from a Task): wait for it, bounded.
        var gone = false
        for _ in 0..<1000 where !gone {
            gone = await contents(store, "f") == nil
            if !gone { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(gone)
    }

    @Test func aDanglingSymlinkIsCreatedFoundAndRemoved() async throws {
        let vfs = writable()
        _ = try await vfs.symlink(target: "missing", parent: 1, name: "l")
        let e = try await vfs.lookup(parent: 1, name: "l")
        #expect(e.attributes.kind == .symlink)
        #expect(try await vfs.readlink(e.attributes.ino) == "missing")
        try await vfs.unlink(parent: 1, name: "l")
        await #expect(throws: VFSError.notFound) { try await vfs.lookup(parent: 1, name: "l") }
    }
}

@Suite struct ListingCountTests {
    private func listed(_ n: Int) async throws -> (VFS, InMemoryObjectStore) {
        let store = InMemoryObjectStore()
        for i in 0..<n { _ = try await store.putObject("d/f\(i)", bytes: [1]) }
        return (makeVFS(store), store)
    }

    @Test func plainReaddirMakesNoInodes() async throws {
        let (vfs, _) = try await listed(50)
        let d = try await vfs.lookup(parent: 1, name: "d")
        let before = vfs.inodeCount
        let h = try await vfs.opendir(d.attributes.ino)
        var inos: [InodeNumber] = []
        try await vfs.readdir(d.attributes.ino, handle: h, offset: 0, plus: false) { e in
            inos.append(e.ino)
            return true
        }
        vfs.releasedir(h)
        #expect(inos.count == 52)
        #expect(vfs.inodeCount == before)
        // A name looked up keeps its own number; the listing then shows that one.
        let f = try await vfs.lookup(parent: d.attributes.ino, name: "f7")
        let h2 = try await vfs.opendir(d.attributes.ino)
        var seen: InodeNumber?
        try await vfs.readdir(d.attributes.ino, handle: h2, offset: 0, plus: false) { e in
            if e.name == "f7" { seen = e.ino }
            return true
        }
        vfs.releasedir(h2)
        #expect(seen == f.attributes.ino)
    }

    @Test func readdirplusCountsOnlyWhatFit() async throws {
        let (vfs, _) = try await listed(20)
        let d = try await vfs.lookup(parent: 1, name: "d")
        let h = try await vfs.opendir(d.attributes.ino)
        var taken: [DirectoryEntry] = []
        // The reply holds "." and ".." and 5 entries; the 6th is refused.
        try await vfs.readdir(d.attributes.ino, handle: h, offset: 0, plus: true) { e in
            guard taken.count < 7 else { return false }
            taken.append(e)
            return true
        }
        vfs.releasedir(h)
        // Each of the 5 was counted once: one FORGET each drops them all.
        let before = vfs.inodeCount
        for e in taken.dropFirst(2) { vfs.forget(e.ino, count: 1) }
        #expect(vfs.inodeCount == before - 5)
        #expect(vfs.inodeCount == 2)  // the root and "d" (looked up once)
    }
}

@Suite struct ShutdownTests {
    @Test func openWritersAreStoredAndNewOnesRefused() async throws {
        let store = InMemoryObjectStore()
        let vfs = writable(store)
        let (_, a) = try await vfs.create(parent: 1, name: "a", mode: 0o644)
        _ = try await vfs.write(a, offset: 0, bytes: Array("checkpoint a".utf8))
        let (_, b) = try await vfs.create(parent: 1, name: "b", mode: 0o644)
        _ = try await vfs.write(b, offset: 0, bytes: [UInt8](repeating: 7, count: 20 << 20))  // multipart
        let report = await vfs.shutdown(within: .seconds(30))
        #expect(Set(report.stored) == ["a", "b"] && report.lost.isEmpty)
        #expect(await contents(store, "a") == Array("checkpoint a".utf8))
        #expect(await contents(store, "b")?.count == 20 << 20)
        await #expect(throws: VFSError.readOnly) { _ = try await vfs.create(parent: 1, name: "c", mode: 0o644) }
    }

    @Test func whatCannotBeStoredIsAbortedAndNamed() async throws {
        let store = InMemoryObjectStore()
        let faults = FaultInjectingClient(store, seed: 1)
        let vfs = writable(faults)
        let (_, h) = try await vfs.create(parent: 1, name: "big", mode: 0o644)
        _ = try await vfs.write(h, offset: 0, bytes: [UInt8](repeating: 1, count: 20 << 20))
        // From now on no part and no completion goes through.
        faults.setRules([FaultRule([.uploadPart, .completeMultipart, .put], error: .service(ServiceError(
            status: 503, code: "ServiceUnavailable", message: "", requestId: nil, hostId: nil, ec: nil)), probability: 1)])
        let report = await vfs.shutdown(within: .seconds(5))
        #expect(report.lost == ["big"] && report.stored.isEmpty)
        #expect(await contents(store, "big") == nil)
        let uploads = try await store.listMultipartUploads(prefix: "", keyMarker: nil, uploadIdMarker: nil, maxUploads: 100)
        #expect(uploads.uploads.isEmpty)
    }
}
