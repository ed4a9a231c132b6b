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
                await store(cache, id, bytes)
                #expect(cache.contains(id))
                #expect(await load(cache, id) == bytes)
                // Another version of the object (a new ETag) is another chunk.
                #expect(await load(cache, ChunkID(key: id.key, etag: "E2", index: 1, length: id.length)) == nil)
            }
            let reopened = try DiskChunkCache(directory: dir, capacity: 8 << 20, logger: logger)
            #expect(await load(reopened, id) == bytes)
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
