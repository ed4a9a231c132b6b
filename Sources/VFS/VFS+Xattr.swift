// Extended attributes in the `user.` namespace, stored as s3fs and ossfs 1.x
// store them: one `x-oss-meta-xattr` value holding a URL-encoded JSON object
// that maps each name to its base64 value. Changes are written with a
// CopyObject of the object onto itself (REPLACE), like chmod.
import Foundation
import ObjectStore

extension VFS {
    static func decodeXattrs(_ meta: [String: String]) -> [String: [UInt8]] {
        guard let raw = meta["xattr"], let json = raw.removingPercentEncoding,
            let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        else { return [:] }
        return object.compactMapValues { Data(base64Encoded: $0).map { [UInt8]($0) } }
    }

    static func encodeXattrs(_ attrs: [String: [UInt8]]) -> String? {
        guard !attrs.isEmpty else { return nil }
        let object = attrs.mapValues { Data($0).base64EncodedString() }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
            .addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }

    /// OSS's bound on an object's user metadata: the x-oss-meta-* names and values together.
    static let maxUserMetadataBytes = 8 << 10

    static func userMetadataBytes(_ meta: [String: String]) -> Int {
        meta.reduce(0) { $0 + "x-oss-meta-".utf8.count + $1.key.utf8.count + $1.value.utf8.count }
    }

    /// The object that carries a file's or directory's metadata (a directory's marker).
    func metadataKey(_ ino: InodeNumber) throws(VFSError) -> String {
        let node = try inode(ino)
        return node.key
    }

    func xattrs(_ ino: InodeNumber) async throws(VFSError) -> (ObjectInfo, [String: [UInt8]]) {
        let key = try metadataKey(ino)
        do {
            let info = try await client.headObject(key, ifMatch: nil)
            return (info, Self.decodeXattrs(info.userMetadata))
        } catch {
            let e = VFSError(error)
            // An implicit directory has no object to carry attributes.
            throw e == .notFound && key.hasSuffix("/") ? .notSupported : e
        }
    }

    /// Only `user.` names are stored: any other namespace is not supported (ENOTSUP),
    /// known without asking OSS. `ls -l` asks for `security.selinux` and
    /// `system.posix_acl_access` of every file, but stops asking for the rest of a
    /// file system once one answer says "not supported" (coreutils caches that per
    /// device), so the answer saves 20,000 round trips on a 10,000-entry `ls -l`.
    /// With `-o no_xattr` every call is ENOSYS, which the kernel itself remembers.
    public func xattrAnswerWithoutIO(_ name: String) -> VFSError? {
        if !config.xattr { return .notImplemented }
        return name.hasPrefix("user.") ? nil : .notSupported
    }

    public func getxattr(_ ino: InodeNumber, name: String) async throws(VFSError) -> [UInt8] {
        if let e = xattrAnswerWithoutIO(name) { throw e }
        guard let value = try await xattrs(ino).1[name] else { throw .noAttribute }
        return value
    }

    public func listxattr(_ ino: InodeNumber) async throws(VFSError) -> [String] {
        if !config.xattr { throw .notImplemented }
        do { return try await xattrs(ino).1.keys.sorted() } catch .notSupported { return [] }
    }

    public func setxattr(_ ino: InodeNumber, name: String, value: [UInt8], create: Bool, replace: Bool)
        async throws(VFSError)
    {
        if !config.xattr { throw .notImplemented }
        if config.readOnly { throw .readOnly }
        guard name.hasPrefix("user."), name.count > 5 else { throw .notSupported }
        try await changeXattrs(ino) { (attrs: inout [String: [UInt8]]) throws(VFSError) in
            if create && attrs[name] != nil { throw .exists }
            if replace && attrs[name] == nil { throw .noAttribute }
            attrs[name] = value
        }
    }

    public func removexattr(_ ino: InodeNumber, name: String) async throws(VFSError) {
        if !config.xattr { throw .notImplemented }
        if config.readOnly { throw .readOnly }
        try await changeXattrs(ino) { (attrs: inout [String: [UInt8]]) throws(VFSError) in
            guard attrs.removeValue(forKey: name) != nil else { throw .noAttribute }
        }
    }

    func changeXattrs(_ ino: InodeNumber, _ change: @Sendable (inout [String: [UInt8]]) throws(VFSError) -> Void)
        async throws(VFSError)
    {
        try await keyLocks.with(try metadataKey(ino)) { () async throws(VFSError) in
            let (info, current) = try await xattrs(ino)
            var attrs = current
            try change(&attrs)
            var meta = info.userMetadata
            meta["xattr"] = Self.encodeXattrs(attrs)
            // OSS refuses 8 KB or more of user metadata (EC 0011-00000002): ENOSPC, as a
            // local file system says when an inode's attribute space is full.
            guard Self.userMetadataBytes(meta) < Self.maxUserMetadataBytes else { throw .noSpace }
            do {
                let result = try await client.copyObject(
                    from: info.key, to: info.key,
                    directive: .replace(WriteOptions(contentType: info.contentType, userMetadata: meta)), sourceIfMatch: info.etag)
                recordStored(ino, etag: result.etag, size: nil)
            } catch {
                throw VFSError(error)
            }
        }
    }
}
