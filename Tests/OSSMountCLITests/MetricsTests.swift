import Foundation
import Logging
import Testing

@testable import OSSMountCLI

@Suite struct MetricsTests {
    @Test func metricsAddressesParse() throws {
        #expect(try MetricsAddress.parse("127.0.0.1:9100", over: nil) == MetricsAddress(host: "127.0.0.1", port: 9100))
        #expect(try MetricsAddress.parse("localhost:1", over: nil) == MetricsAddress(host: "127.0.0.1", port: 1))
        #expect(try MetricsAddress.parse(":9200", over: MetricsAddress(host: "0.0.0.0", port: 1))
                == MetricsAddress(host: "0.0.0.0", port: 9200))
        #expect(try MetricsAddress.parse("10.0.0.2:", over: MetricsAddress(host: "127.0.0.1", port: 9)).port == 9)
        #expect(throws: CommandLineError.self) { try MetricsAddress.parse("example.com:1", over: nil) }
        #expect(throws: CommandLineError.self) { try MetricsAddress.parse("127.0.0.1:70000", over: nil) }
        // ossfs 2.0's pair becomes one address; port 0 is off.
        var c = MountConfig()
        try MountConfig.parse([("metrics_ip", "127.0.0.3"), ("metrics_port", "9300")], into: &c)
        #expect(c.metricsAddress == MetricsAddress(host: "127.0.0.3", port: 9300))
        #expect(c.summary.contains("metrics_addr=127.0.0.3:9300\n"))
    }

    @Test func prometheusTextIsReadBack() {
        let text = """
            # TYPE ossmount_oss_requests_total counter
            ossmount_oss_requests_total{operation="GetObject",status="200"} 7
            ossmount_oss_requests_total{operation="GetObject",status="503"} 2
            ossmount_oss_requests_total{operation="PutObject",status="200"} 1
            ossmount_open_files 3
            """
        let m = MetricSamples(parsing: text)
        #expect(m.sum("ossmount_oss_requests_total") == 10)
        #expect(m.sum("ossmount_oss_requests_total", ["operation": "GetObject"]) == 9)
        #expect(m.values(of: "operation", in: "ossmount_oss_requests_total") == ["GetObject", "PutObject"])
        let summary = StatsCommand.summary(m, since: nil, mountpoint: "/m")
        #expect(summary.contains("GetObject") && summary.contains("files 3"))
    }

    @Test func logLinesHaveOneShapeInEachFormat() throws {
        let time = Date(timeIntervalSince1970: 1_764_563_554.25)
        let meta: Logger.Metadata = ["key": "a \"b\"\n", "op": "read"]
        #expect(MountLogHandler.line(.text, time: time, level: .warning, message: "operation failed", metadata: meta)
                == "2025-12-01T04:32:34.250Z warning operation failed key=a \"b\"\n op=read\n")
        let json = MountLogHandler.line(.json, time: time, level: .info, message: "m", metadata: meta)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        #expect(object == ["time": "2025-12-01T04:32:34.250Z", "level": "info", "message": "m", "key": "a \"b\"\n",
                           "op": "read"])
        #expect(json.hasSuffix("}\n") && json.filter { $0 == "\n" }.count == 1)
    }

    @Test func errnoNamesAreSymbolic() {
        #expect(MountMetrics.errnoName(ENOENT) == "ENOENT" && MountMetrics.errnoName(9999) == "9999")
    }
}
