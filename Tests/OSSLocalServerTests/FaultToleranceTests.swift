// With 5% of requests failing in every way osslocal can fail them (error
// statuses, resets, cut bodies, slow answers), the client's retry policy
// completes 500 PUTs and 500 GETs with every byte right.
import ObjectStore
import OSSClient
import OSSCrypto
import Testing
@testable import OSSLocalServer

@Suite struct FaultToleranceTests {
    @Test func fiveHundredPutsAndGetsUnderFivePercentFaults() async throws {
        let spec = try FaultSpec(parsing: "500=0.01,503=0.01,reset=0.01,truncate=0.01,slow=20ms@0.01")
        let f = try LocalFixture(faults: spec)
        defer { f.shutdown() }
        // Short back-off keeps the test quick; 6 tries make a 5% fault rate practically never fatal.
        let c = f.client(retry: RetryPolicy(maxAttempts: 6, baseDelay: .milliseconds(5), maxDelay: .milliseconds(50)))
        let count = 500
        let sizes = (0..<count).map { 1 + ($0 * 7919) % 300_000 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<8 {
                group.addTask {
                    for i in stride(from: lane, to: count, by: 8) {
                        _ = try await c.putObject("f/\(i)", bytes: pattern(sizes[i], seed: UInt64(i)))
                    }
                }
            }
            try await group.waitForAll()
        }
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for lane in 0..<8 {
                group.addTask {
                    var bad = 0
                    for i in stride(from: lane, to: count, by: 8) {
                        let body = try await c.getBytes("f/\(i)")
                        if body != pattern(sizes[i], seed: UInt64(i)) { bad += 1 }
                    }
                    return bad
                }
            }
            return try await group.reduce(0, +)
        }
        print("faults injected: \(f.server.faultsInjected) in \(2 * count)+ requests; corrupted bodies: \(mismatches)")
        #expect(mismatches == 0)
        #expect(f.server.faultsInjected > 10)  // the faults really happened
    }
}
