// The uploader's decisions, without any I/O.
import Testing
@testable import VFS

@Suite struct UploadPlannerTests {
    @Test func smallFileIsOnePut() {
        var p = UploadPlanner(partSize: 100)
        #expect(p.write(offset: 0, count: 40) == [.buffer(count: 40)])
        #expect(p.write(offset: 40, count: 10) == [.buffer(count: 10)])
        #expect(p.finish() == .putObject)
    }

    @Test func writesSpanningPartsUploadEachFullPart() {
        var p = UploadPlanner(partSize: 100)
        #expect(p.write(offset: 0, count: 250) == [.buffer(count: 100), .uploadPart(number: 1), .buffer(count: 100),
                                                  .uploadPart(number: 2), .buffer(count: 50)])
        #expect(p.write(offset: 250, count: 50) == [.buffer(count: 50), .uploadPart(number: 3)])
        #expect(p.finish() == .complete(lastPart: nil))  // ended on a part boundary
        var q = UploadPlanner(partSize: 100)
        _ = q.write(offset: 0, count: 130)
        #expect(q.finish() == .complete(lastPart: 2))
    }

    @Test func aWriteElsewhereIsNotSequential() {
        var p = UploadPlanner(partSize: 100)
        _ = p.write(offset: 0, count: 10)
        #expect(p.write(offset: 5, count: 1) == [.notSequential])
        #expect(p.write(offset: 20, count: 1) == [.notSequential])
        #expect(p.written == 10)
    }

    @Test func partsGrowSoTenThousandReachTerabytes() {
        var p = UploadPlanner(partSize: 1 << 20)
        var offset: UInt64 = 0
        var sizes: [Int] = []
        for _ in 0..<2500 {
            sizes.append(p.partSize)
            _ = p.write(offset: offset, count: p.partSize)
            offset = p.written
        }
        #expect(sizes[0] == 1 << 20 && sizes[999] == 1 << 20 && sizes[1000] == 2 << 20 && sizes[2000] == 4 << 20)
        // With 8 MiB parts, 10,000 parts hold 1000 * 8 MiB * (1 + 2 + ... + 512) > 1 TiB.
        let capacity = (0..<10).reduce(UInt64(0)) { $0 + 1000 * (8 << 20) << UInt64($1) }
        #expect(capacity >= 1 << 40)
    }

    @Test func noByteGoesPastTheTenThousandthPart() {
        var p = UploadPlanner(partSize: 1 << 20)
        var offset: UInt64 = 0
        for _ in 0..<(UploadPlanner.maxParts - 1) {
            _ = p.write(offset: offset, count: p.partSize)
            offset = p.written
        }
        #expect(p.partsStarted == 9_999)
        // The 10,000th part takes what fits in it, and a write past it is refused whole.
        let last = p.partSize
        #expect(p.write(offset: offset, count: last + 1) == [.tooLarge])
        #expect(p.written == offset)
        #expect(p.write(offset: offset, count: last - 1) == [.buffer(count: last - 1)])
        #expect(p.write(offset: p.written, count: 2) == [.tooLarge])
        #expect(p.write(offset: p.written, count: 1) == [.buffer(count: 1), .uploadPart(number: 10_000)])
        #expect(p.write(offset: p.written, count: 1) == [.tooLarge])
        #expect(p.write(offset: p.written, count: 0) == [])
        #expect(p.finish() == .complete(lastPart: nil))
    }
}

@Suite struct MultipartPartSizeTests {
    @Test func theConfiguredSizeHoldsUpToTenThousandParts() throws {
        #expect(try Multipart.partSize(for: 0, atLeast: 8 << 20) == 8 << 20)
        #expect(try Multipart.partSize(for: 10_000 * (8 << 20), atLeast: 8 << 20) == 8 << 20)
    }

    @Test func aLargerObjectGetsTheSmallestWholeMebibytePartsThatFit() throws {
        let size: UInt64 = 10_000 * (8 << 20) + 1  // one byte more than 10,000 parts of 8 MiB
        let part = try Multipart.partSize(for: size, atLeast: 8 << 20)
        #expect(part == 9 << 20)
        #expect(Multipart.ranges(size, partSize: part).count <= 10_000)
        for size: UInt64 in [100 << 30, 1 << 40, 7_654_321_987_654, Multipart.maxObjectSize] {
            let part = try Multipart.partSize(for: size, atLeast: 8 << 20)
            #expect(part % (1 << 20) == 0 && part <= Multipart.maxPartSize)
            #expect((size + part - 1) / part <= 10_000)
            #expect(part - (1 << 20) < (size + 9_999) / 10_000, "not the smallest: \(part) for \(size)")
        }
    }

    @Test func pastTheLargestObjectNothingIsPlanned() {
        #expect(throws: VFSError.tooLarge) { try Multipart.partSize(for: Multipart.maxObjectSize + 1, atLeast: 8 << 20) }
    }
}
