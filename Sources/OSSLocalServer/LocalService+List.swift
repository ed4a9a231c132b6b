// Listing: ListObjectsV2 and V1 (V1 for S3 peers such as s3fs), ListBuckets,
// bucket info, and DeleteMultipleObjects.
import ObjectStore
import Foundation
import OSSClient
import OSSCrypto

extension LocalService {
    struct ListEntry {
        var key: String?
        var commonPrefix: String?
    }

    /// Walks `keys` from the first key after `after` under `prefix`, rolling keys up to
    /// common prefixes at `delimiter`, until `max` entries. Returns the entries and
    /// whether more remain.
    /// `skipPrefix`: a continuation after a common prefix skips every key under it.
    static func walk(_ keys: [String], prefix: String, delimiter: String, after: String?, skipPrefix: String? = nil,
                     max: Int) -> (entries: [ListEntry], truncated: Bool)
    {
        var lo = 0, hi = keys.count
        let start = after.map { KeyIndex.precedes($0, prefix) ? prefix : $0 } ?? prefix
        while lo < hi {
            let mid = (lo + hi) / 2
            if KeyIndex.precedes(keys[mid], start) { lo = mid + 1 } else { hi = mid }
        }
        var entries: [ListEntry] = []
        var i = lo
        while i < keys.count {
            let key = keys[i]
            i += 1
            if let after, !KeyIndex.precedes(after, key) { continue }
            if let skipPrefix, key.hasBytePrefix(skipPrefix) { continue }
            guard key.hasBytePrefix(prefix) else { break }
            if entries.count == max { return (entries, true) }
            if let common = commonPrefix(of: key, prefix: prefix, delimiter: delimiter) {
                entries.append(ListEntry(key: nil, commonPrefix: common))
                while i < keys.count && keys[i].hasBytePrefix(common) { i += 1 }
            } else {
                entries.append(ListEntry(key: key, commonPrefix: nil))
            }
        }
        return (entries, false)
    }

    /// `key` up to and including the first `delimiter` after `prefix`, compared as bytes; nil if none.
    static func commonPrefix(of key: String, prefix: String, delimiter: String) -> String? {
        let bytes = Array(key.utf8), d = Array(delimiter.utf8)
        guard !d.isEmpty, bytes.count >= prefix.utf8.count + d.count else { return nil }
        for start in prefix.utf8.count...(bytes.count - d.count) where bytes[start..<start + d.count].elementsEqual(d) {
            return String(decoding: bytes[..<(start + d.count)], as: UTF8.self)
        }
        return nil
    }

    func listObjects(_ r: ParsedRequest, v2: Bool) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        let maxKeys = try r.queryValue("max-keys").map { v throws(OSSError) -> Int in
            guard let n = Int(v), (0...1000).contains(n) else { throw .invalidArgument("max-keys must be between 0 and 1000") }
            return n
        } ?? (v2 ? 100 : 1000)
        let prefix = r.queryValue("prefix") ?? ""
        let delimiter = r.queryValue("delimiter") ?? ""
        let encode = r.queryValue("encoding-type") == "url"
        func name(_ s: String) -> String { encode ? URIEncoding.encode(s, keepSlash: true) : s }
        var after: String?
        var skipPrefix: String?
        if v2 {
            // Tokens are URL-safe base64 of "K<key>" (after that key) or "P<prefix>" (after
            // all under it), as OSS's own are URL-safe: clients sign them as received.
            if let token = r.queryValue("continuation-token"), !token.isEmpty {
                guard let raw = Self.decodeToken(token), let kind = raw.first else {
                    throw .invalidArgument("The continuation token provided is incorrect")
                }
                after = String(decoding: raw.dropFirst(), as: UTF8.self)
                if kind == UInt8(ascii: "P") { skipPrefix = after }
            }
            if let sa = r.queryValue("start-after"), !sa.isEmpty, after.map({ KeyIndex.precedes($0, sa) }) ?? true { after = sa }
        } else if let marker = r.queryValue("marker"), !marker.isEmpty {
            after = marker
            if !delimiter.isEmpty && marker.hasByteSuffix(delimiter) && b.object(marker) == nil { skipPrefix = marker }
        }
        let (entries, truncated) = Self.walk(b.sortedKeys(), prefix: prefix, delimiter: delimiter, after: after,
                                             skipPrefix: skipPrefix, max: maxKeys)
        var doc = XMLDoc()
        doc.open("ListBucketResult", attributes: r.s3Dialect ? " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"" : "")
        doc.element("Name", b.name)
        doc.element("Prefix", name(prefix))
        if v2 {
            doc.element("MaxKeys", String(maxKeys))
            if !delimiter.isEmpty { doc.element("Delimiter", name(delimiter)) }
            if let sa = r.queryValue("start-after"), !sa.isEmpty { doc.element("StartAfter", name(sa)) }
            if let t = r.queryValue("continuation-token"), !t.isEmpty { doc.element("ContinuationToken", t) }
            if encode { doc.element("EncodingType", "url") }
            doc.element("IsTruncated", String(truncated))
            if truncated, let last = entries.last {
                let token = last.key.map { "K" + $0 } ?? "P" + last.commonPrefix!
                doc.element("NextContinuationToken", Self.encodeToken(Array(token.utf8)))
            }
            doc.element("KeyCount", String(entries.count))
        } else {
            doc.element("Marker", name(r.queryValue("marker") ?? ""))
            doc.element("MaxKeys", String(maxKeys))
            if !delimiter.isEmpty { doc.element("Delimiter", name(delimiter)) }
            if encode { doc.element("EncodingType", "url") }
            doc.element("IsTruncated", String(truncated))
            if truncated, let last = entries.last { doc.element("NextMarker", name(last.key ?? last.commonPrefix!)) }
        }
        let fetchOwner = !v2 || r.queryValue("fetch-owner") == "true"
        for e in entries {
            guard let key = e.key, let o = b.object(key) else { continue }
            doc.open("Contents")
            doc.element("Key", name(key))
            doc.element("LastModified", HTTPDate.iso8601(o.lastModified))
            doc.element("ETag", o.etag)
            doc.element("Type", o.type)
            doc.element("Size", String(o.size))
            doc.element("StorageClass", "Standard")
            if fetchOwner {
                doc.open("Owner")
                doc.element("ID", "osslocal")
                doc.element("DisplayName", "osslocal")
                doc.close("Owner")
            }
            doc.close("Contents")
        }
        for e in entries {
            guard let p = e.commonPrefix else { continue }
            doc.open("CommonPrefixes")
            doc.element("Prefix", name(p))
            doc.close("CommonPrefixes")
        }
        doc.close("ListBucketResult")
        return .xml(200, doc)
    }

    func listBuckets() -> LocalResponse {
        var doc = XMLDoc()
        doc.open("ListAllMyBucketsResult")
        doc.open("Owner")
        doc.element("ID", "osslocal")
        doc.element("DisplayName", "osslocal")
        doc.close("Owner")
        doc.open("Buckets")
        for name in buckets.keys.sorted() {
            doc.open("Bucket")
            doc.element("Name", name)
            doc.element("CreationDate", HTTPDate.iso8601(timestamp()))
            doc.element("Location", "oss-\(region)")
            doc.element("Region", region)
            doc.element("StorageClass", "Standard")
            doc.close("Bucket")
        }
        doc.close("Buckets")
        doc.close("ListAllMyBucketsResult")
        return .xml(200, doc)
    }

    func bucketInfo(_ r: ParsedRequest) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        var doc = XMLDoc()
        if r.has("location") {
            doc.open("LocationConstraint")
            doc.close("LocationConstraint")
            return .xml(200, doc)
        }
        doc.open("BucketInfo")
        doc.open("Bucket")
        doc.element("Name", b.name)
        doc.element("Location", "oss-\(region)")
        doc.element("Region", region)
        doc.element("StorageClass", "Standard")
        doc.close("Bucket")
        doc.close("BucketInfo")
        return .xml(200, doc)
    }

    func deleteMultiple(_ r: ParsedRequest, _ body: ReceivedBody) throws(OSSError) -> LocalResponse {
        let b = try bucket(r)
        guard case .document(let bytes) = body else { throw .internalError("no body") }
        guard r.header("Content-MD5") != nil else {
            throw OSSError(400, "MissingArgument", "Missing Some Required Arguments: Content-MD5.", ec: "0016-00000502")
        }
        try Self.checkMD5(r, Digest.md5(bytes))
        guard let xml = XMLNode.parse(bytes), xml.name == "Delete" else {
            throw OSSError(400, "MalformedXML", "The XML you provided was not well-formed.", ec: "0031-00000001")
        }
        let keys = xml.all("Object").compactMap { $0.text("Key") }
        guard keys.count <= 1000 else { throw OSSError(400, "MalformedXML", "Too many keys: at most 1000.", ec: "0031-00000002") }
        let quiet = xml.text("Quiet") == "true"
        let encode = r.queryValue("encoding-type") == "url"
        var doc = XMLDoc()
        doc.open("DeleteResult", attributes: r.s3Dialect ? " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"" : "")
        if encode { doc.element("EncodingType", "url") }
        for k in keys {
            b.remove(k)
            if !quiet {
                doc.open("Deleted")
                doc.element("Key", encode ? URIEncoding.encode(k, keepSlash: true) : k)
                doc.close("Deleted")
            }
        }
        doc.close("DeleteResult")
        return .xml(200, doc)
    }

    /// Base64 with the URL-safe alphabet ('-', '_') and no padding: no byte of it needs
    /// percent-encoding, so a client signs the same text it sends.
    static func encodeToken(_ bytes: [UInt8]) -> String {
        String(Base64.encode(bytes).compactMap { c -> Character? in
            switch c {
            case "+": "-"
            case "/": "_"
            case "=": nil
            default: c
            }
        })
    }

    /// Reads `encodeToken`'s form (and standard base64, for tokens handed out before).
    static func decodeToken(_ token: String) -> [UInt8]? {
        var standard = String(token.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while standard.count % 4 != 0 { standard += "=" }
        return Base64.decode(standard)
    }
}
