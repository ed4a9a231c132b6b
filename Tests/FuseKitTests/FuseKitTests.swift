// FuseKit without a kernel mount: the stat the kernel is given, the reused write
// arrays, the kernel cache's refusals, and a session's options (fuse_session_new
// parses them; nothing is mounted).
import Glibc
import Synchronization
import Testing

@testable import FuseKit

@Suite struct FuseAttributesTests {
    private func attributes(_ kind: FuseFileKind, size: UInt64, permissions: UInt32 = 0o644) -> FuseAttributes {
        FuseAttributes(ino: 42, kind: kind, permissions: permissions, size: size, uid: 1000, gid: 100,
                       mtime: (1_700_000_000, 123_456_789))
    }

    @Test func theModeCarriesTheKindAndOnlyThePermissionBits() {
        #expect(attributes(.regular, size: 0).stat.st_mode == S_IFREG | 0o644)
        #expect(attributes(.directory, size: 0, permissions: 0o755).stat.st_mode == S_IFDIR | 0o755)
        #expect(attributes(.symlink, size: 5, permissions: 0o777).stat.st_mode == S_IFLNK | 0o777)
        // Bits above 0o7777 (a kind smuggled into the permissions) never reach the mode.
        #expect(attributes(.regular, size: 0, permissions: 0o40755).stat.st_mode == S_IFREG | 0o755)
        #expect(attributes(.regular, size: 0, permissions: 0o4755).stat.st_mode == S_IFREG | 0o4755)
    }

    @Test func blocksCountWholeSectorsRoundedUp() {
        #expect(attributes(.regular, size: 0).stat.st_blocks == 0)
        #expect(attributes(.regular, size: 1).stat.st_blocks == 1)
        #expect(attributes(.regular, size: 512).stat.st_blocks == 1)
        #expect(attributes(.regular, size: 513).stat.st_blocks == 2)
        #expect(attributes(.regular, size: 1 << 30).stat.st_blocks == (1 << 30) / 512)
    }

    @Test func aSizePastOffTClampsInsteadOfTrapping() {
        let s = attributes(.regular, size: UInt64.max).stat
        #expect(s.st_size == off_t.max)
        #expect(s.st_blocks == blkcnt_t(UInt64.max / 512 + 1))
        #expect(attributes(.regular, size: UInt64(Int64.max)).stat.st_blocks == Int64.max / 512 + 1)
    }

    @Test func accessAndChangeTimesDefaultToTheModificationTime() {
        let s = attributes(.regular, size: 3).stat
        #expect(s.st_mtim.tv_sec == 1_700_000_000 && s.st_mtim.tv_nsec == 123_456_789)
        #expect(s.st_atim.tv_sec == s.st_mtim.tv_sec && s.st_atim.tv_nsec == s.st_mtim.tv_nsec)
        #expect(s.st_ctim.tv_sec == s.st_mtim.tv_sec && s.st_ctim.tv_nsec == s.st_mtim.tv_nsec)
        let own = FuseAttributes(ino: 1, kind: .regular, permissions: 0o600, size: 0, uid: 0, gid: 0,
                                 mtime: (10, 1), atime: (20, 2), ctime: (30, 3), links: 2).stat
        #expect(own.st_atim.tv_sec == 20 && own.st_atim.tv_nsec == 2)
        #expect(own.st_ctim.tv_sec == 30 && own.st_ctim.tv_nsec == 3)
        #expect(own.st_nlink == 2 && own.st_ino == 1 && own.st_uid == 0)
    }
}

@Suite struct WriteBuffersTests {
    private func bytes(_ n: Int, _ seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0) &+ seed } }

    private func lease(_ buffers: WriteBuffers, _ content: [UInt8]) -> WriteBuffers.Lease {
        content.withUnsafeBytes { buffers.filled(with: $0) }
    }

    private func base(_ array: [UInt8]) -> UnsafeRawPointer? { array.withUnsafeBytes { $0.baseAddress } }

    @Test func aLeaseHoldsACopyOfTheWrite() {
        let buffers = WriteBuffers()
        var source = bytes(4096, 1)
        let l = lease(buffers, source)
        source[0] = 99
        #expect(l.bytes == bytes(4096, 1))
    }

    @Test func anArrayGivenBackIsReusedForTheNextWrite() {
        let buffers = WriteBuffers()
        var first: WriteBuffers.Lease? = lease(buffers, bytes(1 << 20, 1))
        let memory = base(first!.bytes)
        first = nil
        let second = lease(buffers, bytes(1 << 20, 2))
        #expect(base(second.bytes) == memory)
        #expect(second.bytes == bytes(1 << 20, 2))
    }

    @Test func bytesKeptPastTheLeaseAreNeverOverwritten() {
        let buffers = WriteBuffers()
        var first: WriteBuffers.Lease? = lease(buffers, bytes(64 << 10, 1))
        let kept = first!.bytes
        first = nil
        let second = lease(buffers, bytes(64 << 10, 2))
        #expect(kept == bytes(64 << 10, 1))
        #expect(base(second.bytes) != base(kept))
    }

    @Test func atMostKeptArraysWaitForReuse() {
        let buffers = WriteBuffers(kept: 2)
        var leases: [WriteBuffers.Lease] = (0..<4).map { lease(buffers, bytes(4096, UInt8($0))) }
        #expect(buffers.waiting == 0)
        leases.removeFirst()
        #expect(buffers.waiting == 1)
        leases.removeAll()
        #expect(buffers.waiting == 2)
        _ = lease(buffers, bytes(16, 0))
        #expect(buffers.waiting == 2)  // taken, then given back when the lease ended
    }
}

@Suite struct FuseSessionTests {
    /// A filesystem with nothing in it (these sessions are never mounted).
    final class Nothing: FuseFilesystem {
        func lookup(parent: UInt64, name: String) async throws(FuseError) -> FuseEntry { throw FuseError(ENOENT) }
        func forget(_ ino: UInt64, count: UInt64) {}
        func getattr(_ ino: UInt64) async throws(FuseError) -> (FuseAttributes, timeout: Double) { throw FuseError(ENOENT) }
        func readlink(_ ino: UInt64) async throws(FuseError) -> String { throw FuseError(ENOENT) }
        func opendir(_ ino: UInt64) async throws(FuseError) -> UInt64 { throw FuseError(ENOENT) }
        func readdir(_ ino: UInt64, handle: UInt64, offset: Int64, plus: Bool,
                     add: (FuseDirectoryEntry) -> Bool) async throws(FuseError) {}
        func releasedir(_ ino: UInt64, handle: UInt64) async {}
        func open(_ ino: UInt64, flags: Int32) async throws(FuseError) -> FuseOpenResult { throw FuseError(ENOENT) }
        func read(_ ino: UInt64, handle: UInt64, offset: Int64, size: Int) async throws(FuseError) -> any FuseReadBuffer {
            throw FuseError(EBADF)
        }
        func release(_ ino: UInt64, handle: UInt64) async {}
        func statfs(_ ino: UInt64) async -> FuseStatfs { FuseStatfs() }
    }

    @Test func anUnknownOptionIsRefusedWithTheOptionsNamed() {
        do {
            _ = try FuseSession(filesystem: Nothing(), mountOptions: ["no_such_option_xyz"])
            Issue.record("an unknown option was accepted")
        } catch {
            #expect(error.description.contains("no_such_option_xyz"))
        }
    }

    @Test func knownOptionsMakeASessionWithoutMounting() throws {
        _ = try FuseSession(filesystem: Nothing(), mountOptions: ["ro", "fsname=ossmount#bucket", "allow_other"])
    }
}

@Suite struct FuseKernelCacheTests {
    private struct Bytes: FuseReadBuffer {
        let count: Int
        func withPieces<R>(_ body: ([UnsafeRawBufferPointer]) -> R) -> R {
            [UInt8](repeating: 7, count: count).withUnsafeBytes { body([$0]) }
        }
    }

    @Test func withoutASessionOffersAreDroppedAndInvalidationsDoneAtOnce() {
        let cache = FuseKernelCache()
        #expect(!cache.offer(1, offset: 0, Bytes(count: 4096)) { true })
        #expect(cache.counted == FuseKernelCache.Counts(storedBytes: 0, dropped: 1, invalidated: 0))
        let done = Mutex(false)
        cache.invalidate(1) { done.withLock { $0 = true } }
        #expect(done.withLock { $0 })
    }

    @Test func offersPastTheBoundOrAfterCloseAreDropped() throws {
        let cache = FuseKernelCache(maxPending: 8192)
        let session = try FuseSession(filesystem: FuseSessionTests.Nothing(), mountOptions: [], kernelCache: cache)
        #expect(!cache.offer(1, offset: 0, Bytes(count: 8193)) { true })
        #expect(!cache.offer(1, offset: 0, Bytes(count: 0)) { true })
        session.unmount()
        #expect(!cache.offer(1, offset: 0, Bytes(count: 4096)) { true })
        #expect(cache.counted.dropped == 3)
        #expect(cache.counted.storedBytes == 0)
    }

    /// Before FUSE_INIT the kernel takes no store: the offer is accepted, tried on the
    /// store thread, and counted as dropped, and nothing waits forever at unmount.
    @Test func aStoreTheKernelRefusesIsCountedAsDropped() async throws {
        let cache = FuseKernelCache()
        let session = try FuseSession(filesystem: FuseSessionTests.Nothing(), mountOptions: [], kernelCache: cache)
        #expect(cache.offer(1, offset: 0, Bytes(count: 4096)) { true })
        let deadline = ContinuousClock.now + .seconds(10)
        while cache.counted.dropped == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(cache.counted == FuseKernelCache.Counts(storedBytes: 0, dropped: 1, invalidated: 0))
        session.unmount()
    }
}
