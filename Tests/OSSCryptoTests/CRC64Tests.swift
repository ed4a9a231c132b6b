// CRC-64 against every record of Fixtures/vectors/crc64.jsonl (computed by both
// official Python SDKs), plus properties the hot paths rely on: chunked updates
// equal one pass, and combine equals the CRC of the concatenation.
import Foundation
import Testing
@testable import OSSCrypto

@Suite struct CRC64Tests {
    static func vectors() -> [[String: Any]] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/vectors/crc64.jsonl")
        let text = try! String(contentsOf: url, encoding: .utf8)
        return text.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// The data descriptions used by the vector file, evaluated.
    static func bytes(desc: String?, utf8: String?, hex: String?) -> [UInt8] {
        if let hex, !hex.isEmpty || utf8 == nil {
            var out: [UInt8] = []
            var i = hex.startIndex
            while i < hex.endIndex {
                let j = hex.index(i, offsetBy: 2)
                out.append(UInt8(hex[i..<j], radix: 16)!)
                i = j
            }
            return out
        }
        if let utf8 { return Array(utf8.utf8) }
        switch desc {
        case "bytes(range(256)) repeated 4096 times (1 MiB)": return ramp(4096)
        case "bytes(range(256)) * 1024": return ramp(1024)
        case "bytes(range(255,-1,-1)) * 2048": return ramp(2048).map { 255 - $0 }
        default: Issue.record("unknown data description \(desc ?? "nil")"); return []
        }
    }

    static func ramp(_ times: Int) -> [UInt8] { (0..<(256 * times)).map { UInt8($0 & 0xFF) } }

    static func number(_ v: Any?) -> UInt64 { (v as! NSNumber).uint64Value }

    @Test func everyVectorRecord() {
        var checked = 0
        for r in Self.vectors() {
            switch r["kind"] as! String {
            case "crc64-parameters":
                #expect(CRC64.checksum(Array("123456789".utf8)) == UInt64(String((r["check_123456789"] as! String).dropFirst(2)), radix: 16))
            case "crc64":
                let data = Self.bytes(desc: r["data_desc"] as? String, utf8: r["data_utf8"] as? String, hex: r["data_hex"] as? String)
                #expect(data.count == r["length"] as! Int)
                #expect(CRC64.checksum(data) == Self.number(r["crc64"]))
                #expect(String(CRC64.checksum(data)) == r["x-oss-hash-crc64ecma"] as! String)
            case "crc64-combine":
                let a = Self.bytes(desc: r["a_desc"] as? String, utf8: r["a_utf8"] as? String, hex: nil)
                let b = Self.bytes(desc: r["b_desc"] as? String, utf8: r["b_utf8"] as? String, hex: nil)
                #expect(CRC64.checksum(a) == Self.number(r["crc_a"]))
                #expect(CRC64.checksum(b) == Self.number(r["crc_b"]))
                #expect(CRC64.combine(Self.number(r["crc_a"]), Self.number(r["crc_b"]), UInt64(b.count)) == Self.number(r["combined"]))
                #expect(CRC64.checksum(a + b) == Self.number(r["crc_of_concatenation"]))
            case "crc64-multipart":
                let parts: [[UInt8]] = [Array(repeating: UInt8(ascii: "A"), count: 102400),
                                        Array(repeating: UInt8(ascii: "B"), count: 102400),
                                        Array(repeating: UInt8(ascii: "C"), count: 17)]
                var crc = CRC64()
                for (p, expected) in zip(parts, r["part_crcs"] as! [NSNumber]) {
                    #expect(CRC64.checksum(p) == expected.uint64Value)
                    crc.append(crc: CRC64.checksum(p), length: UInt64(p.count))
                }
                #expect(crc.value == Self.number(r["object_crc"]))
            default:
                Issue.record("unknown record kind \(r["kind"]!)")
                continue
            }
            checked += 1
        }
        print("CRC-64 vectors checked: \(checked)")
        #expect(checked == 18)
    }

    @Test(arguments: [1, 3, 7, 8, 9, 64, 4095])
    func chunkedUpdatesEqualOnePass(chunk: Int) {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<10_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var crc = CRC64()
        var i = 0
        while i < data.count {
            crc.update(data[i..<min(i + chunk, data.count)])
            i += chunk
        }
        #expect(crc.value == CRC64.checksum(data))
        #expect(crc.value == Self.bytewise(data))
    }

    @Test func combineMatchesConcatenationAtRandomSplits() {
        let data = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for split in [0, 1, 7, 8, 999, 4999, 5000] {
            let a = CRC64.checksum(data[..<split]), b = CRC64.checksum(data[split...])
            #expect(CRC64.combine(a, b, UInt64(data.count - split)) == CRC64.checksum(data))
        }
    }

    /// Folding (PCLMULQDQ, 256 bytes and more) against the bitwise reference, at every
    /// length around the 128-byte block and fold thresholds, from random registers.
    @Test func foldingEqualsTheBitwiseLoopAtEveryLength() {
        #expect(CRC64.folds || !Self.x86, "this x86-64 CPU should fold")
        var rng = SystemRandomNumberGenerator()
        let data = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var lengths = Array(0...1100)
        lengths += [4095, 4096, 4097, 65_536, 65_537, 70_000]
        for n in lengths {
            let start = Int.random(in: 0..<16, using: &rng)  // unaligned too
            let piece = data[start..<min(data.count, start + n)]
            #expect(CRC64.checksum(piece) == Self.bytewise(Array(piece)), "length \(piece.count)")
        }
        // Continuing from a non-trivial CRC (the register joins the first lane).
        var crc = CRC64()
        crc.update(data[..<33])
        crc.update(data[33..<40_033])
        #expect(crc.value == Self.bytewise(Array(data[..<40_033])))
    }

    static var x86: Bool {
        #if arch(x86_64)
        true
        #else
        false
        #endif
    }

    /// The textbook one-byte-at-a-time loop, as an independent reference.
    static func bytewise(_ data: [UInt8]) -> UInt64 {
        var crc: UInt64 = ~0
        for b in data {
            crc ^= UInt64(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xC96C_5795_D787_0F42 : crc >> 1 }
        }
        return ~crc
    }
}
