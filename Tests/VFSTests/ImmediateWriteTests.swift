// writeWithoutIO: the synchronous path FUSE takes for a streamed file's writes that
// fit in the part buffer. It must take exactly those, refuse the rest (so the async
// path handles them), and leave the object byte for byte what the writes said.
import ObjectStore
import ObjectStoreTesting
import Testing
@testable import VFS

@Suite struct ImmediateWriteTests {
    @Test func takesWritesThatFitThePartBufferAndRefusesTheRest() async throws {
        let store = InMemoryObjectStore()
        let vfs = makeVFS(store) {
            $0.readOnly = false
            $0.mimeTypesFile = nil
            $0.uploadBufferSize = 128 << 10
        }
        let block = 32 << 10
        let data = (0..<(10 * block)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        func piece(_ i: Int) -> [UInt8] { Array(data[(i * block)..<((i + 1) * block)]) }
        func now(_ h: UInt64, _ i: Int, at offset: Int? = nil) -> Int? {
            piece(i).withUnsafeBytes { vfs.writeWithoutIO(h, offset: Int64(offset ?? i * block), bytes: $0) }
        }
        let (_, h) = try await vfs.create(parent: 1, name: "f", mode: 0o644)
        #expect(now(h, 0) == block)  // a created file streams from its first write
        #expect(now(h, 1) == block)
        #expect(now(h, 2) == block)
        #expect(now(h, 3) == nil)  // it would fill the part: the part starts on the async path
        #expect(try await vfs.write(h, offset: Int64(3 * block), bytes: piece(3)) == block)
        #expect(now(h, 4) == block)  // a new part buffer, taken from the pool at once
        #expect(now(h, 5, at: 0) == nil)  // not at the end
        for i in 5..<10 {
            if now(h, i) == nil { _ = try await vfs.write(h, offset: Int64(i * block), bytes: piece(i)) }
        }
        try await vfs.flush(h)
        await vfs.release(h)
        #expect(try await store.getBytes("f", ifMatch: nil) == data)
        #expect(try await store.headObject("f", ifMatch: nil).type == .multipart)
    }

    @Test func anExistingFileDecidesOnTheAsyncPathFirst() async throws {
        let store = InMemoryObjectStore()
        _ = try await store.putObject("f", bytes: [1, 2, 3])
        let vfs = makeVFS(store) {
            $0.readOnly = false
            $0.mimeTypesFile = nil
        }
        let e = try await vfs.lookup(parent: 1, name: "f")
        let (h, _) = try await vfs.open(e.attributes.ino, writable: true)
        let four: [UInt8] = [4]
        // Appending to an object: the edit is decided by the first write, which needs I/O.
        #expect(four.withUnsafeBytes { vfs.writeWithoutIO(h, offset: 3, bytes: $0) } == nil)
        #expect(try await vfs.write(h, offset: 3, bytes: four) == 1)
        let five: [UInt8] = [5]
        if five.withUnsafeBytes({ vfs.writeWithoutIO(h, offset: 4, bytes: $0) }) == nil {
            _ = try await vfs.write(h, offset: 4, bytes: five)
        }
        try await vfs.flush(h)
        await vfs.release(h)
        #expect(try await store.getBytes("f", ifMatch: nil) == [1, 2, 3, 4, 5])
    }
}
