// Config files: a JSON object whose keys are ossmount option names
// ({"endpoint": "...", "attr_timeout": 60, "ro": true}), or a PAI "Advanced
// Configuration" as users already have them (fs.jindo.args, fs.ossfs.args,
// mountType, fs.oss.* keys). Their keys and flags go to MountConfig as options,
// which maps or warns about JindoSDK keys and peers' flags (PeerOptions.swift).
// Options on the command line override the file.
import Foundation

struct ConfigFile {
    /// What the file sets, in order, as -o options.
    var options: [(name: String, value: String?)] = []
    /// One line per ignored key or flag.
    var warnings: [String] = []

    /// `-oro -oattr_timeout=7200`, `-oattr_timeout=3, -onegative_timeout=0`.
    static func flags(_ text: String) -> [(name: String, value: String?)] {
        text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" || $0 == "\n" }).flatMap { token in
            var t = Substring(token)
            if t.hasPrefix("--") {
                t = t.dropFirst(2)
            } else if t.hasPrefix("-o") {
                t = t.dropFirst(2)
            } else if t.hasPrefix("-") {
                t = t.dropFirst()
            }
            return MountCommand.splitOptions(String(t))
        }
    }

    static func parse(path: String) throws(CommandLineError) -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandLineError("cannot read config file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        guard text.first(where: { !$0.isWhitespace }) == "{" else {
            // ossfs 2.0's flag file: one `--name=value` (or `-o a,b`) per line, `#` comments.
            var file = ConfigFile()
            for line in text.split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                if trimmed.hasPrefix("--") {
                    file.options.append(MountCommand.longOption(trimmed.dropFirst(2)))
                } else if trimmed.hasPrefix("-o") {
                    file.options += MountCommand.splitOptions(trimmed.dropFirst(2).trimmingCharacters(in: .whitespaces))
                } else {
                    throw CommandLineError("config file \(path): '\(trimmed)' is neither JSON nor a --name=value line")
                }
            }
            return file
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CommandLineError("config file \(path) is not a JSON object")
        }
        var file = ConfigFile()
        for key in object.keys.sorted() {
            let raw = object[key]!
            let value: String = switch raw {
            case let b as Bool: b ? "true" : "false"
            case let n as NSNumber: n.stringValue
            case let s as String: s
            default: "\(raw)"
            }
            file.add(key: key, value: value, raw: raw)
        }
        return file
    }

    private mutating func add(key: String, value: String, raw: Any) {
        switch key {
        case "fs.jindo.args", "fs.ossfs.args": options += Self.flags(value)
        case "mountType":
            if !["ossfs", "jindofuse", "jindo", "ossmount"].contains(value.lowercased()) {
                warnings.append("mountType \(value) is not known; ossmount mounts the same way whatever it says")
            }
        default:
            // ossmount's own option names, JindoSDK keys and peers' option names (MountConfig
            // maps or warns); `true` is a flag, `false` turns a flag off.
            options.append((key, raw is Bool ? (value == "true" ? nil : "false") : value))
        }
    }
}
