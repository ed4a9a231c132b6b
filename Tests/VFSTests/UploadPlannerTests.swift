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
}
