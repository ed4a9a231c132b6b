// Credentials kept in files: the JSON credentials file (PAI mounts one at
// /mnt/.alibabacloud/credentials and rewrites it before the STS token inside
// expires) and the ossfs/s3fs-style passwd file (`bucket:ak:sk` or `ak:sk`).
import Foundation
import ObjectStore

/// A file's identity and version for `changeStamp`: inode, size and mtime (nil if absent).
func fileStamp(_ path: String) -> String? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
}

/// Decodes `{"AccessKeyId", "AccessKeySecret", "SecurityToken"?, "Expiration"?}`, the shape
/// shared by the credentials file, the ECS metadata service and credential_process.
enum CredentialsJSON {
    static func decode(_ data: Data, source: String) throws(ObjectStoreError) -> Credentials {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw .credentials("\(source): not a JSON object")
        }
        guard let id = object["AccessKeyId"] as? String, !id.isEmpty,
            let secret = object["AccessKeySecret"] as? String, !secret.isEmpty
        else { throw .credentials("\(source): AccessKeyId and AccessKeySecret are required") }
        var expiration: Double?
        if let text = object["Expiration"] as? String, !text.isEmpty {
            guard let t = HTTPDate.parseISO8601(text) else {
                throw .credentials("\(source): Expiration '\(text)' is not an ISO 8601 time")
            }
            expiration = Double(t.seconds)
        }
        return Credentials(accessKeyId: id, accessKeySecret: secret, securityToken: object["SecurityToken"] as? String,
                           expiration: expiration)
    }
}

/// Reads the JSON credentials file each time the cache asks (see CachingCredentialsProvider).
public struct CredentialsFileProvider: CredentialsProvider {
    public let path: String
    /// When false, a missing file means "not configured" (nil) rather than an error.
    public let required: Bool
    public var sourceDescription: String { "credentials file \(path)" }
    public func changeStamp() -> String? { fileStamp(path) ?? "absent" }

    public init(path: String, required: Bool) {
        self.path = path
        self.required = required
    }

    public func credentials() async throws -> Credentials? {
        guard FileManager.default.fileExists(atPath: path) else {
            if required { throw ObjectStoreError.credentials("\(sourceDescription): no such file") }
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ObjectStoreError.credentials("\(sourceDescription): cannot be read")
        }
        return try CredentialsJSON.decode(data, source: sourceDescription)
    }
}

/// An ossfs passwd file: `bucket:AccessKeyId:AccessKeySecret` lines (the bucket's line
/// wins) or one `AccessKeyId:AccessKeySecret` line; `#` starts a comment. Refused when
/// users other than the owner may read it, as ossfs and s3fs do.
public struct PasswdFileProvider: CredentialsProvider {
    public let path: String
    public let bucket: String
    public let required: Bool
    public var sourceDescription: String { "passwd file \(path)" }
    public func changeStamp() -> String? { fileStamp(path) ?? "absent" }

    public init(path: String, bucket: String, required: Bool) {
        self.path = path
        self.bucket = bucket
        self.required = required
    }

    public func credentials() async throws -> Credentials? {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if required { throw ObjectStoreError.credentials("\(sourceDescription): no such file") }
            return nil
        }
        // Group access (640, which ossfs's docs suggest) is the owner's choice; access by
        // every other user is refused.
        let mode = st.st_mode & 0o777
        if mode & 0o007 != 0 {
            throw ObjectStoreError.credentials(
                "\(sourceDescription) may be read by any user (mode \(String(mode, radix: 8))); "
                    + "run: chmod 600 \(path) (or 640)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ObjectStoreError.credentials("\(sourceDescription): cannot be read")
        }
        var generic: Credentials?
        for (n, raw) in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            switch fields.count {
            case 2 where generic == nil:
                generic = Credentials(accessKeyId: fields[0], accessKeySecret: fields[1])
            case 2:
                continue
            case 3 where fields[0] == bucket:
                return Credentials(accessKeyId: fields[1], accessKeySecret: fields[2])
            case 3:
                continue
            default:
                throw ObjectStoreError.credentials(
                    "\(sourceDescription) line \(n + 1): expected bucket:AccessKeyId:AccessKeySecret or AccessKeyId:AccessKeySecret")
            }
        }
        guard let generic else {
            throw ObjectStoreError.credentials("\(sourceDescription): no line for bucket \(bucket) and no ak:sk line")
        }
        return generic
    }
}

/// `credential_process`: an absolute command whose standard output is the credentials JSON.
public struct ProcessCredentialsProvider: CredentialsProvider {
    public let command: String
    public var sourceDescription: String { "credential_process \(command.split(separator: " ").first ?? "")" }

    public init(command: String) { self.command = command }

    public func credentials() async throws -> Credentials? {
        let words = command.split(separator: " ").map(String.init)
        guard let exe = words.first, exe.hasPrefix("/") else {
            throw ObjectStoreError.credentials("\(sourceDescription): the command must be an absolute path")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = Array(words.dropFirst())
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch {
            throw ObjectStoreError.credentials("\(sourceDescription): cannot run (\(error.localizedDescription))")
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ObjectStoreError.credentials("\(sourceDescription): exited with status \(process.terminationStatus)")
        }
        return try CredentialsJSON.decode(data, source: sourceDescription)
    }
}
