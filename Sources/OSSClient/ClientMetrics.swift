// What the client counts, through swift-metrics: every HTTP request (each try of a
// retried operation is one) by operation and status, its latency, the retries, and
// the body bytes each way. The mount hands in a Prometheus factory; by default
// nothing is kept.
import CoreMetrics

public struct ClientMetrics: Sendable {
    let factory: any MetricsFactory
    let bytesReceived: Counter
    let bytesSent: Counter

    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.factory = factory
        bytesReceived = Counter(label: "ossmount_oss_received_bytes_total", factory: factory)
        bytesSent = Counter(label: "ossmount_oss_sent_bytes_total", factory: factory)
    }

    /// One request's answer: its HTTP status, or "error" when none came (a transport failure).
    func answered(_ operation: String, status: String, seconds: Double, sent: Int, received: Int) {
        Counter(label: "ossmount_oss_requests_total", dimensions: [("operation", operation), ("status", status)],
                factory: factory).increment()
        Timer(label: "ossmount_oss_request_duration_seconds", dimensions: [("operation", operation)], factory: factory)
            .recordNanoseconds(Int64(max(0, seconds) * 1e9))
        if sent > 0 { bytesSent.increment(by: sent) }
        if received > 0 { bytesReceived.increment(by: received) }
    }

    func retried(_ operation: String) {
        Counter(label: "ossmount_oss_retries_total", dimensions: [("operation", operation)], factory: factory).increment()
    }
}
