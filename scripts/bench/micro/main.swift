// ossbench-micro: single-core throughput of the primitives on the data paths
// (CRC-64 over every byte moved, HMAC for every request signed). Not a test:
// numbers depend on the machine. Run it through scripts/bench/crypto (release build).
import OSSClient
import OSSCrypto
#if canImport(Glibc)
import Glibc
#endif

func seconds(_ body: () -> Void) -> Double {
    var a = timespec(), b = timespec()
    clock_gettime(CLOCK_MONOTONIC, &a)
    body()
    clock_gettime(CLOCK_MONOTONIC, &b)
    return Double(b.tv_sec - a.tv_sec) + Double(b.tv_nsec - a.tv_nsec) / 1e9
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

let runs = 5
let buffer = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
var sink: UInt64 = 0

// CRC-64 over 256 MiB per run, in 1 MiB calls.
var crcRates: [Double] = []
for _ in 0..<runs {
    var crc = CRC64()
    let t = seconds { for _ in 0..<256 { crc.update(buffer) } }
    sink ^= crc.value
    crcRates.append(256.0 / t)
}

// CRC-64 combine (used per part and per prefetch chunk).
var combineRates: [Double] = []
for _ in 0..<runs {
    var v: UInt64 = 1
    let t = seconds { for i in 0..<20_000 { v = CRC64.combine(v, UInt64(i), 8 << 20) } }
    sink ^= v
    combineRates.append(20_000 / t)
}

// HMAC-SHA1 / HMAC-SHA256 of a typical string to sign (~300 bytes).
let key = Array("ExampleAccessKeySecret0123456789ab".utf8)
let message = Array(String(repeating: "GET\n/examplebucket/dir/file.txt\n", count: 10).utf8)
var sha1Rates: [Double] = [], sha256Rates: [Double] = []
for _ in 0..<runs {
    let n = 100_000
    var t = seconds { for _ in 0..<n { sink ^= UInt64(HMAC.sha1(key: key, data: message)[0]) } }
    sha1Rates.append(Double(n) / t)
    t = seconds { for _ in 0..<n { sink ^= UInt64(HMAC.sha256(key: key, data: message)[0]) } }
    sha256Rates.append(Double(n) / t)
}

// A whole V4 signature (canonical request, SHA-256, 5 HMACs), as done per request.
let creds = Credentials(accessKeyId: "LTAI5tExampleAccessKeyId", accessKeySecret: "ExampleAccessKeySecret0123456789ab")
var signRates: [Double] = []
for _ in 0..<runs {
    let n = 20_000
    let t = seconds {
        for i in 0..<n {
            var r = SigningRequest(method: "GET", bucket: "examplebucket", key: "dir/file-\(i).bin")
            SignerV4.sign(&r, credentials: creds, region: "cn-hangzhou", time: SigningTime(unixSeconds: 1_704_164_645))
            sink ^= UInt64(r.headers.fields.count)
        }
    }
    signRates.append(Double(n) / t)
}

func row(_ name: String, _ xs: [Double], _ unit: String) {
    let s = xs.sorted()
    print(name.padding(toLength: 34, withPad: " ", startingAt: 0)
          + "median \(Int(median(xs))) \(unit)  (min \(Int(s.first!)), max \(Int(s.last!)), \(xs.count) runs)")
}
print("ossbench-micro: one core, release build")
row("CRC-64 update (1 MiB calls)", crcRates, "MiB/s")
row("CRC-64 combine", combineRates, "ops/s")
row("HMAC-SHA1 (300 B message)", sha1Rates, "ops/s")
row("HMAC-SHA256 (300 B message)", sha256Rates, "ops/s")
row("V4 request signature (complete)", signRates, "ops/s")
if sink == 42 { print("") }  // keeps the work observable
