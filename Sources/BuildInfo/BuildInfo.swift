// The version both binaries print, and the commit they were built from (written
// by BuildInfoPlugin before each build).
public enum BuildInfo {
    public static let version = "0.1.0"

    /// "ossmount 0.1.0 (commit 0123456789ab)".
    public static func line(_ program: String) -> String { "\(program) \(version) (commit \(commit))" }
}
