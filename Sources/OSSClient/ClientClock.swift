// Time as the client sees it: the wall clock for signatures and credential
// expiry, a sleep for retry back-off, and the jitter source. Tests inject a
// manual one so that no test waits for a real back-off.
#if canImport(Glibc)
import Glibc
#endif

public struct ClientClock: Sendable {
    /// Seconds since the Unix epoch.
    public var now: @Sendable () -> Double
    public var sleep: @Sendable (Duration) async throws -> Void
    /// A uniform random number in [0, 1).
    public var random: @Sendable () -> Double

    public init(now: @escaping @Sendable () -> Double, sleep: @escaping @Sendable (Duration) async throws -> Void,
                random: @escaping @Sendable () -> Double) {
        self.now = now
        self.sleep = sleep
        self.random = random
    }

    public static let system = ClientClock(
        now: {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        },
        sleep: { try await Task.sleep(for: $0) },
        random: { Double.random(in: 0..<1) })
}
