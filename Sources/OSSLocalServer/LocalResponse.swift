// What osslocal answers: status, headers and a body source, plus the XML
// documents OSS answers with. Error answers carry Code, Message, RequestId,
// HostId and EC; HEAD error answers have no body, so the document also goes,
// base64, in `x-oss-err`.
import NIOCore
import OSSClient
import OSSCrypto

struct LocalResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: BodySource
    /// Bytes in the body (Content-Length).
    var length: Int64

    init(status: Int, headers: [(String, String)] = [], body: BodySource = .none, length: Int64 = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.length = length
    }

    static func xml(_ status: Int, _ doc: XMLDoc, headers: [(String, String)] = []) -> LocalResponse {
        let bytes = doc.bytes
        return LocalResponse(status: status, headers: [("Content-Type", "application/xml")] + headers,
                             body: .bytes(ByteBuffer(bytes: bytes)), length: Int64(bytes.count))
    }

    static func error(_ e: OSSError, requestId: String, host: String, isHead: Bool) -> LocalResponse {
        var doc = XMLDoc()
        doc.open("Error")
        doc.element("Code", e.code)
        doc.element("Message", e.message)
        doc.element("RequestId", requestId)
        doc.element("HostId", host)
        for (n, v) in e.details { doc.element(n, v) }
        doc.element("EC", e.ec)
        doc.element("RecommendDoc", "https://api.aliyun.com/troubleshoot?q=\(e.ec)")
        doc.close("Error")
        var headers = e.headers + [("x-oss-ec", e.ec)]
        if isHead {
            headers.append(("x-oss-err", Base64.encode(doc.bytes)))
            return LocalResponse(status: e.status, headers: headers)
        }
        return .xml(e.status, doc, headers: headers)
    }
}

/// A small XML writer: elements in order, text escaped, appended as bytes (a
/// 1000-key listing is ~230 KB; string interpolation per element was most of the
/// listing's cost).
struct XMLDoc {
    private(set) var bytes: [UInt8] = Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".utf8)
    var text: String { String(decoding: bytes, as: UTF8.self) }
    init() { bytes.reserveCapacity(4096) }
    mutating func open(_ name: String, attributes: String = "") {
        bytes.append(0x3C)  // <
        bytes += name.utf8
        bytes += attributes.utf8
        bytes.append(0x3E)  // >
    }
    mutating func close(_ name: String) {
        bytes += [0x3C, 0x2F]  // </
        bytes += name.utf8
        bytes.append(0x3E)
    }
    mutating func element(_ name: String, _ value: String) {
        open(name)
        XMLNode.appendEscaped(value, to: &bytes)
        close(name)
    }
}
