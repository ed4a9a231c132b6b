// When a failed request is sent again, and after how long. Only failures that a
// second try can cure are retried: the wire (connection refused or reset,
// timeouts, cut bodies), the service being busy (5xx, 429, QpsLimitExceeded) and
// a body whose CRC-64 came out wrong. Never signature, permission, not-found or
// conflict errors: those answer the same every time.
import ObjectStore

public struct RetryPolicy: Sendable, Hashable {
    /// Tries in all, the first included.
    public var maxAttempts: Int
    /// No retry starts once this much time has passed since the first try.
    public var maxElapsed: Duration
    /// The first retry waits up to this long; each later one up to twice the previous.
    public var baseDelay: Duration
    public var maxDelay: Duration

    /// 5 tries within 60 s, 100 ms doubling to 5 s: rides out a few seconds of
    /// throttling or a server restart, yet fails a dead endpoint within a minute.
    public init(maxAttempts: Int = 5, maxElapsed: Duration = .seconds(60), baseDelay: Duration = .milliseconds(100),
                maxDelay: Duration = .seconds(5)) {
        self.maxAttempts = maxAttempts
        self.maxElapsed = maxElapsed
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    public static let never = RetryPolicy(maxAttempts: 1)

    public static func isRetryable(_ error: ObjectStoreError) -> Bool {
        switch error {
        case .transport(let t):
            return t.kind != .tls && t.kind != .aborted
        case .service(let e):
            return e.status >= 500 || e.status == 429 || e.code.contains("QpsLimitExceeded")
        case .checksumMismatch:
            return true
        case .invalidResponse, .credentials:
            return false
        }
    }

    /// "Full jitter": a uniform wait in [0, min(maxDelay, base·2^(attempt-1))], so many
    /// clients throttled together do not retry in lock step. `unit` is in [0, 1).
    public func delay(afterAttempt attempt: Int, unit: Double) -> Duration {
        let cap = min(maxDelay, baseDelay * (1 << min(max(attempt - 1, 0), 20)))
        return cap * unit
    }
}
