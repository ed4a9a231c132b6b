// `--request-log FILE`: one JSON line per request (method, op, bucket, key,
// query, status, bytes, milliseconds), so tests can count what a client sent.
import Foundation
import ObjectStore
import Synchronization

final class RequestLog: Sendable {
    private let handle: Mutex<FileHandle?>

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw BlobError(description: "cannot create request log \(path)")
            }
        }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        h.seekToEndOfFile()
        handle = Mutex(h)
    }

    func record(method: String, op: String, bucket: String?, key: String, query: String, status: Int, bytes: Int64,
                milliseconds: Double) {
        let line = "{\"method\":\(JSONString.quoted(method)),\"op\":\(JSONString.quoted(op)),\"bucket\":\(JSONString.quoted(bucket ?? "")),"
            + "\"key\":\(JSONString.quoted(key)),\"query\":\(JSONString.quoted(query)),\"status\":\(status),\"bytes\":\(bytes),"
            + "\"ms\":\(String(format: "%.3f", milliseconds))}\n"
        handle.withLock { $0?.write(Data(line.utf8)) }
    }
}
