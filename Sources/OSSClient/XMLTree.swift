// OSS answers in small XML documents (a listing page is at most 1000 entries).
// A minimal scanner builds an element tree of names, texts and children
// (attributes, comments, declarations and DOCTYPEs are skipped, CDATA is text);
// the decoders of each operation read it with `child(_:)` and `text(_:)`. It
// replaced FoundationXML's SAX parser, which took 3x as long per listing page
// (7.8 ms vs 2.6 for 1000 keys), the client's main cost in `ls` of a large
// directory. Writing request bodies is
// a few escaped strings, done here too.

public struct XMLNode: Sendable {
    public var name: String
    public var text: String = ""
    public var children: [XMLNode] = []

    public func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    public func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    /// Text of the named child, nil when the child is absent.
    public func text(_ name: String) -> String? { child(name)?.text }

    /// The document's root element, or nil when `bytes` is not well-formed XML.
    public static func parse(_ bytes: [UInt8]) -> XMLNode? {
        var scanner = XMLScanner(bytes)
        return scanner.document()
    }

    public static func escape(_ s: String) -> String {
        // Most keys and values need nothing: one byte scan, no copy.
        if !s.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        appendEscaped(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `s` as XML text, appended to `bytes` (the five predefined entities).
    public static func appendEscaped(_ s: String, to bytes: inout [UInt8]) {
        for b in s.utf8 {
            switch b {
            case 0x26: bytes += "&amp;".utf8
            case 0x3C: bytes += "&lt;".utf8
            case 0x3E: bytes += "&gt;".utf8
            case 0x22: bytes += "&quot;".utf8
            case 0x27: bytes += "&apos;".utf8
            default: bytes.append(b)
            }
        }
    }
}

/// One pass over the bytes: tags open and close elements on a stack, text between
/// them is appended (entities decoded) to the innermost open element.
private struct XMLScanner {
    let b: [UInt8]
    var i = 0

    init(_ bytes: [UInt8]) { b = bytes }

    static let lt = UInt8(ascii: "<"), gt = UInt8(ascii: ">"), slash = UInt8(ascii: "/"), amp = UInt8(ascii: "&")

    mutating func document() -> XMLNode? {
        var stack: [XMLNode] = []
        var root: XMLNode?
        while i < b.count {
            guard b[i] == Self.lt else {
                let start = i
                while i < b.count && b[i] != Self.lt { i += 1 }
                guard !stack.isEmpty else {
                    if b[start..<i].contains(where: { !Self.isSpace($0) }) { return nil }  // text outside the root
                    continue
                }
                guard let text = Self.decode(b[start..<i]) else { return nil }
                stack[stack.count - 1].text += text
                continue
            }
            if starts("<?") {
                guard skip(past: "?>") else { return nil }
            } else if starts("<!--") {
                guard skip(past: "-->") else { return nil }
            } else if starts("<![CDATA[") {
                let start = i + 9
                guard skip(past: "]]>"), !stack.isEmpty else { return nil }
                stack[stack.count - 1].text += String(decoding: b[start..<(i - 3)], as: UTF8.self)
            } else if starts("<!") {
                guard skip(past: ">") else { return nil }
            } else if starts("</") {
                i += 2
                let name = self.name()
                while i < b.count && Self.isSpace(b[i]) { i += 1 }
                guard i < b.count, b[i] == Self.gt, let node = stack.popLast(), node.name == name else { return nil }
                i += 1
                if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
            } else {
                i += 1
                let name = self.name()
                guard !name.isEmpty, root == nil else { return nil }
                // Attributes are skipped (OSS puts none where it matters); quotes may hold '>'.
                var quote: UInt8?
                while i < b.count {
                    let c = b[i]
                    if let q = quote { if c == q { quote = nil } } else if c == 0x22 || c == 0x27 { quote = c } else if c == Self.gt { break }
                    i += 1
                }
                guard i < b.count else { return nil }
                let selfClosing = b[i - 1] == Self.slash
                i += 1
                let node = XMLNode(name: name)
                if !selfClosing {
                    stack.append(node)
                } else if stack.isEmpty {
                    root = node
                } else {
                    stack[stack.count - 1].children.append(node)
                }
            }
        }
        return stack.isEmpty ? root : nil
    }

    private func starts(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        // Safety: `utf8Start` points at `n` bytes of the static string.
        for k in 0..<n where b[i + k] != s.utf8Start[k] { return false }
        return true
    }

    /// Moves past the next `end`; false when there is none.
    private mutating func skip(past end: StaticString) -> Bool {
        while i < b.count {
            if starts(end) {
                i += end.utf8CodeUnitCount
                return true
            }
            i += 1
        }
        return false
    }

    private mutating func name() -> String {
        let start = i
        while i < b.count, !Self.isSpace(b[i]), b[i] != Self.gt, b[i] != Self.slash { i += 1 }
        return String(decoding: b[start..<i], as: UTF8.self)
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    /// Text with the five XML entities and character references replaced; nil for an
    /// unknown or unterminated entity.
    static func decode(_ bytes: ArraySlice<UInt8>) -> String? {
        guard bytes.contains(amp) else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var k = bytes.startIndex
        while k < bytes.endIndex {
            let c = bytes[k]
            guard c == amp else {
                out.append(c)
                k += 1
                continue
            }
            guard let semi = bytes[k...].firstIndex(of: UInt8(ascii: ";")) else { return nil }
            let entity = String(decoding: bytes[(k + 1)..<semi], as: UTF8.self)
            switch entity {
            case "amp": out.append(amp)
            case "lt": out.append(lt)
            case "gt": out.append(gt)
            case "quot": out.append(0x22)
            case "apos": out.append(0x27)
            default:
                let hex = entity.hasPrefix("#x") || entity.hasPrefix("#X")
                guard entity.hasPrefix("#"), let v = UInt32(entity.dropFirst(hex ? 2 : 1), radix: hex ? 16 : 10),
                    let scalar = Unicode.Scalar(v)
                else { return nil }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            }
            k = semi + 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
