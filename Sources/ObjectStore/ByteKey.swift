// OSS keys are bytes: "café" spelled NFC and NFD are two objects. Swift's String
// equality and hashing follow Unicode canonical equivalence, which would merge
// them, so every table and comparison of keys (osslocal's and the mount's) goes
// through these byte-wise forms.

/// A key that compares and hashes by its UTF-8 bytes.
public struct ByteKey: Hashable, Sendable {
    public let string: String

    public init(_ string: String) { self.string = string }

    public static func == (a: ByteKey, b: ByteKey) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    public func hash(into hasher: inout Hasher) {
        var s = string
        // Safety: the pointer is only used inside the closure, while `s` is alive and contiguous.
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

extension String {
    /// Byte-wise prefix test (`hasPrefix` is canonical-equivalence based).
    public func hasBytePrefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    /// Byte-wise suffix test.
    public func hasByteSuffix(_ suffix: String) -> Bool { utf8.reversed().starts(with: suffix.utf8.reversed()) }

    /// Byte-wise equality.
    public func bytesEqual(_ other: String) -> Bool { utf8.elementsEqual(other.utf8) }

    /// Byte-wise order, as OSS lists keys.
    public func bytePrecedes(_ other: String) -> Bool { utf8.lexicographicallyPrecedes(other.utf8) }

    /// The rest after a byte prefix (`dropFirst(n)` counts Characters, not bytes).
    public func droppingBytePrefix(_ prefix: String) -> String {
        String(decoding: utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }
}

/// A dictionary by key, its keys compared as bytes, used with plain `String`s.
public struct KeyMap<Value> {
    private var storage: [ByteKey: Value] = [:]

    public init() {}

    public subscript(key: String) -> Value? {
        get { storage[ByteKey(key)] }
        set { storage[ByteKey(key)] = newValue }
    }

    public subscript(key: String, default value: @autoclosure () -> Value) -> Value {
        get { storage[ByteKey(key), default: value()] }
        set { storage[ByteKey(key)] = newValue }
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> Value? { storage.removeValue(forKey: ByteKey(key)) }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }
    public var keys: [String] { storage.keys.map(\.string) }
    public var values: Dictionary<ByteKey, Value>.Values { storage.values }
    public var entries: [(key: String, value: Value)] { storage.map { ($0.key.string, $0.value) } }
}

extension KeyMap: Sendable where Value: Sendable {}
