import Foundation
import PackagePlugin

/// Generates `SourceFingerprint.swift` for the target it is applied to: the SHA-256 of the
/// package's sources (every file under `Sources/`, by relative path and content, and
/// `Package.swift`) and the Swift compiler's version line and target, as constants.
///
/// The ranks of a job compare these at start (`BuildIdentity`): the same source built on every
/// host agrees wherever the clone is; a different source or compiler does not. Nothing is
/// needed at run time, and no git: a fresh clone or a tarball gives the same digest.
///
/// It is a prebuild command, so it runs before every build and may only run programs already
/// on the system: `/bin/sh` with `find`, `sort` and `sha256sum` (or `shasum` on macOS). It
/// rewrites the file only when a constant changed, so an unchanged tree recompiles nothing.
@main
struct SourceFingerprint: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        // The compiler SwiftPM builds with is the toolchain's; without one, the digest still counts.
        let swiftc = (try? context.tool(named: "swiftc"))?.url.path ?? ""
        return [.prebuildCommand(
            displayName: "Fingerprinting the sources of \(target.name)",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", Self.script, "source-fingerprint", context.package.directoryURL.path, output.path, swiftc],
            environment: ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C"],
            outputFilesDirectory: output)]
    }

    /// `sh -c script source-fingerprint PACKAGE OUTPUT_DIRECTORY SWIFTC`.
    static let script = #"""
        set -eu
        package=$1 output=$2 swiftc=$3
        if command -v sha256sum >/dev/null 2>&1; then sha="sha256sum"; else sha="shasum -a 256"; fi
        cd "$package"
        # Relative paths, sorted bytewise: the digest does not depend on where the clone is.
        digest=$( { find Sources -type f ! -name '.*' -print | sort; echo Package.swift; } \
                  | while IFS= read -r file; do $sha "$file"; done | $sha | cut -c1-64 )
        compiler="unknown compiler"
        if [ -n "$swiftc" ]; then
            compiler=$("$swiftc" --version 2>/dev/null | sed -n -e 's/^Target: /for /p' -e '/^Swift version/p' | tr '\n' ' ' | sed 's/ *$//')
        fi
        mkdir -p "$output"
        cat > "$output/SourceFingerprint.swift.new" <<SWIFT
        // Generated before every build by the SourceFingerprint plugin (Plugins/SourceFingerprint): do not edit.
        enum SourceFingerprint {
            /// SHA-256 of every file under Sources/ (relative path and content) and Package.swift.
            static let sourceDigest = "$digest"
            /// The compiler's version line and target (\`swiftc --version\`).
            static let compiler = #"$compiler"#
        }
        SWIFT
        if cmp -s "$output/SourceFingerprint.swift.new" "$output/SourceFingerprint.swift"; then
            rm "$output/SourceFingerprint.swift.new"
        else
            mv "$output/SourceFingerprint.swift.new" "$output/SourceFingerprint.swift"
        fi
        """#
}
