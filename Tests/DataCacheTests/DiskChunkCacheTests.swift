import CLibc
import Foundation
import Logging
import ObjectStore
import Testing

@testable import DataCache

/// A fresh directory under /tmp, removed at the end of the test.
private func withDirectory(_ body: (String) async throws -> Void) async throws {
    let dir = NSTemporaryDirectory() + "chunkcache-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try await body(dir)
}

private func chunk(_ i: Int, etag: String = "E1", length: Int = 64 << 10) -> (ChunkID, [UInt8]) {
    let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
    return (ChunkID(key: "data/f\(i)", etag: etag, index: i, length: length), bytes)
}

private func load(_ cache: DiskChunkCache, _ id: ChunkID) async -> [UInt8]? {
    let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: id.length, alignment: 8)
    defer { memory.deallocate() }
    guard await cache.load(id, into: MutableBytes(memory)) else { return nil }
    return Array(memory)
}

extension DiskChunkCache {
    /// `readNow` into a new array (nil: not served).
    func readNow(_ id: ChunkID, range: Range<Int>) -> [UInt8]? {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, range.count), alignment: 16)
        defer { memory.deallocate() }
        guard readNow(id, range: range, into: MutableBytes(UnsafeMutableRawBufferPointer(rebasing: memory[0..<range.count])))
        else { return nil }
        return Array(memory[0..<range.count])
    }
}

private func store(_ cache: DiskChunkCache, _ id: ChunkID, _ bytes: [UInt8]) async {
    await cache.store(id, from: UploadBody(bytes))
}

private func filesSize(_ dir: String) -> Int64 {
    var total: Int64 = 0
    let e = FileManager.default.enumerator(atPath: dir)
    while let name = e?.nextObject() as? String {
        var st = stat()
        if stat("\(dir)/\(name)", &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG { total += Int64(st.st_size) }
    }
    return total
}

@Suite struct DiskChunkCacheTests {
    let logger = Logger(label: "test")

    @Test func aStoredChunkIsLoadedBackAndKeptAcrossReopening() async throws {
        try await withDirectory { dir in
            let (id, bytes) = chunk(1)
            do {
                let cache = try DiskChunkCache(directory: dir, capacity: 8 << 20, logger: logger)
                #expect(await load(cache, id) == nil && !cache.contains(id))
                // Its block directory removed behind the cache's back: made again.
                #expect(rmdir("\(dir)/blocks/\(DiskChunkCache.name(id).prefix(2))") == 0)
                await store(cache, id, bytes)
                #expect(cache.contains(id))
                #expect(await load(cache, id) == bytes)
                // Another version of the object (a new ETag) is another chunk.
                #expect(await load(cache, ChunkID(key: id.key, etag: "E2", index: 1, length: id.length)) == nil)
            }
            // A write a crash cut short leaves a temporary file beside the blocks: the next
            // start removes it and does not count it.
            let leftover = "\(dir)/blocks/ab/\(String(repeating: "ab", count: 20))\(DiskChunkCache.temporaryMark)42"
            #expect(FileManager.default.createFile(atPath: leftover, contents: Data(count: 10_000)))
            let reopened = try DiskChunkCache(directory: dir, capacity: 8 << 20, logger: logger)
            #expect(await load(reopened, id) == bytes)
            #expect(!FileManager.default.fileExists(atPath: leftover))
            #expect(reopened.used == filesSize(dir + "/blocks"))  // one block of whole 4 KiB pieces
        }
    }

    @Test func aSecondMountOfTheSameDirectoryIsRefused() async throws {
        try await withDirectory { dir in
            let first = try DiskChunkCache(directory: dir, capacity: 1 << 20, logger: logger)
            #expect(throws: CacheSetupError.self) { try DiskChunkCache(directory: dir, capacity: 1 << 20, logger: logger) }
            withExtendedLifetime(first) {}
        }
    }

    @Test func aRangeReadChecksOnlyItsPagesAndNeverServesADamagedOne() async throws {
        try await withDirectory { dir in
            let cache = try DiskChunkCache(directory: dir, capacity: 8 << 20, logger: logger)
            let page = DiskChunkCache.pageSize
            let (id, bytes) = chunk(3, length: 4 * page + 100)
            await store(cache, id, bytes)
            for range in [0..<4096, (page - 10)..<(page + 10), (4 * page)..<(4 * page + 100), 5..<(4 * page + 99)] {
                #expect(cache.readNow(id, range: range) == Array(bytes[range]), "\(range)")
            }
            #expect(cache.readNow(id, range: 0..<(4 * page + 101)) == nil)  // past the chunk
            // One byte flipped in the third page's data (past the header and the CRC table).
            let path = try #require(FileManager.default.enumerator(atPath: dir + "/blocks")?.allObjects
                .compactMap { $0 as? String }.first { $0.contains("/") })
            var st = stat()
            #expect(stat("\(dir)/blocks/\(path)", &st) == 0)
            let flip = off_t(Int(st.st_size) - bytes.count + 2 * page + 7)
            let fd = open("\(dir)/blocks/\(path)", O_RDWR)
            var byte: UInt8 = 0
            _ = pread(fd, &byte, 1, flip)
            byte ^= 0x01
            _ = pwrite(fd, &byte, 1, flip)
            close(fd)
            #expect(cache.readNow(id, range: 0..<4096) == Array(bytes[0..<4096]))  // its page is intact
            #expect(cache.readNow(id, range: (2 * page)..<(2 * page + 16)) == nil)  // the damaged page is not served
            #expect(!cache.contains(id))  // and the block is gone
            #expect(cache.readNow(id, range: 0..<4096) == nil)
        }
    }

    /// With O_DIRECT, and through the page cache (where the filesystem refuses O_DIRECT).
    @Test(arguments: [true, false])
    func readsOfEveryShapeBypassThePageCacheWhereTheFilesystemTakesIt(directIO: Bool) async throws {
        try await withDirectory { dir in
            let cache = try DiskChunkCache(directory: dir, capacity: 8 << 20, logger: logger, directIO: directIO)
            let page = DiskChunkCache.pageSize
            let (id, bytes) = chunk(4, length: 2 * page + 1000)
            await store(cache, id, bytes)
            // Whole, into page-aligned memory (as the pool's): its last partial 4 KiB apart.
            let aligned = UnsafeMutableRawBufferPointer.allocate(byteCount: id.length, alignment: DiskChunkCache.alignment)
            defer { aligned.deallocate() }
            #expect(await cache.load(id, into: MutableBytes(aligned)))
            #expect(Array(aligned) == bytes)
            // Whole, into memory that is not; and ranges at the start, inside, at the end.
            let unaligned = UnsafeMutableRawBufferPointer.allocate(byteCount: id.length + 1, alignment: 16)
            defer { unaligned.deallocate() }
            let shifted = UnsafeMutableRawBufferPointer(rebasing: unaligned[1...])
            #expect(await cache.load(id, into: MutableBytes(shifted)))
            #expect(Array(shifted) == bytes)
            for range in [0..<10, (page + 3)..<(page + 4099), (2 * page)..<(2 * page + 1000), 0..<id.length] {
                #expect(cache.readNow(id, range: range) == Array(bytes[range]), "\(range)")
            }
            // Stored from page-aligned memory (as the pool's), whole pages and not.
            for length in [2 * page, 2 * page + 1] {
                let (other, more) = chunk(5 + length % 2, length: length)
                let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: DiskChunkCache.alignment)
                defer { memory.deallocate() }
                memory.copyBytes(from: more)
                await cache.store(other, from: UploadBody(borrowing: UnsafeRawBufferPointer(memory)))
                #expect(await load(cache, other) == more)
            }
            // In every block file the bytes (the length its header gives) start on a 4 KiB boundary.
            let files = (FileManager.default.enumerator(atPath: dir + "/blocks")?.allObjects ?? [])
                .compactMap { $0 as? String }.filter { $0.contains("/") }
            #expect(files.count == 3)
            for file in files {
                let data = try #require(FileManager.default.contents(atPath: "\(dir)/blocks/\(file)"))
                let length = data[8..<16].reversed().reduce(0) { $0 << 8 | Int($1) }
                #expect(data.count > length && (data.count - length) % DiskChunkCache.alignment == 0, "\(file)")
            }
            let path = files[0]
            // No read was refused (a misaligned O_DIRECT read fails with EINVAL and would
            // turn direct reads off) where the filesystem takes O_DIRECT at all.
            let probe = open("\(dir)/blocks/\(path)", O_RDONLY | CLibc_o_direct())
            if probe >= 0 { close(probe) }
            #expect(cache.bypassesPageCache == (directIO && probe >= 0))
        }
    }

    @Test func aDamagedBlockIsDroppedNotServed() async throws {
        try await withDirectory { dir in
            let cache = try DiskChunkCache(directory: dir, capacity: 8 << 20, logger: logger)
            let (id, bytes) = chunk(2)
            await store(cache, id, bytes)
            let path = try #require(FileManager.default.enumerator(atPath: dir + "/blocks")?.allObjects
                .compactMap { $0 as? String }.first { $0.contains("/") })
            // One byte flipped in the middle of the data.
            let fd = open("\(dir)/blocks/\(path)", O_RDWR)
            var byte: UInt8 = 0
            _ = pread(fd, &byte, 1, 40_000)
            byte ^= 0xFF
            _ = pwrite(fd, &byte, 1, 40_000)
            close(fd)
            #expect(await load(cache, id) == nil)
            #expect(!cache.contains(id) && !FileManager.default.fileExists(atPath: "\(dir)/blocks/\(path)"))
            // Stored again, it is served again.
            await store(cache, id, bytes)
            #expect(await load(cache, id) == bytes)
        }
    }

    @Test func theLeastRecentlyUsedGoFirstAndTheSizeIsNeverPassed() async throws {
        try await withDirectory { dir in
            let capacity: Int64 = 5 * (68 << 10)  // five blocks of 64 KiB plus their headers
            do {
                let cache = try DiskChunkCache(directory: dir, capacity: capacity, logger: logger)
                for i in 0..<5 { await store(cache, chunk(i).0, chunk(i).1) }
                #expect((0..<5).allSatisfy { cache.contains(chunk($0).0) })
                _ = await load(cache, chunk(0).0)  // 0 is now the most recent; 1 the least
                await store(cache, chunk(5).0, chunk(5).1)
                #expect(!cache.contains(chunk(1).0) && cache.contains(chunk(0).0) && cache.contains(chunk(5).0))
                #expect(cache.used <= capacity && filesSize(dir + "/blocks") <= capacity)
                // Many writers at once: still within the size, on disk too.
                await withTaskGroup(of: Void.self) { group in
                    for i in 10..<210 { group.addTask { await store(cache, chunk(i).0, chunk(i).1) } }
                }
                #expect(cache.used <= capacity && filesSize(dir) <= capacity)
                // No block on disk that the index does not count (a write evicted meanwhile).
                #expect(filesSize(dir + "/blocks") <= cache.used)
            }
            // Reopened smaller, the oldest go.
            let reopened = try DiskChunkCache(directory: dir, capacity: 2 * (68 << 10), logger: logger)
            #expect(reopened.used <= 2 * (68 << 10) && filesSize(dir + "/blocks") <= 2 * (68 << 10))
        }
    }
}
