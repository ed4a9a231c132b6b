// Loads the official-SDK signing vectors from Fixtures/vectors (copied from
// shared/vectors). Each record is a JSON object; fields are documented in
// docs/oss-api.md §8.
import Foundation
import HTTPSeam
@testable import OSSClient

enum Vectors {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/vectors")

    static func load(_ name: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    static func signingRequest(_ r: [String: Any]) -> SigningRequest {
        let query = (r["query"] as? [[Any]] ?? []).map { QueryItem($0[0] as! String, $0[1] as? String) }
        let headers = (r["headers"] as! [String: String]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return SigningRequest(method: r["method"] as! String, bucket: r["bucket"] as? String,
                              key: r["key"] as? String ?? "", query: query, headers: HTTPHeaders(headers))
    }

    static func credentials(_ r: [String: Any]) -> Credentials {
        Credentials(accessKeyId: r["access_key_id"] as! String, accessKeySecret: r["access_key_secret"] as! String,
                    securityToken: r["security_token"] as? String)
    }

    static func style(_ r: [String: Any]) -> WireStyle { (r["sdk"] as! String).hasPrefix("oss2") ? .oss2 : .standard }

    static func unixTime(_ r: [String: Any]) -> Int64 {
        // All records use 2024-01-02T03:04:05Z; parse it rather than trust that.
        HTTPDate.parseISO8601(r["signing_time"] as! String)!.seconds
    }
}
