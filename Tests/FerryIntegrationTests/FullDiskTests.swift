import FerryConfig
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A server whose root is a real, small file system (a 40 MiB tmpfs): uploads that do not fit are refused with
/// 507 before they fill it, nothing is left behind, and the next upload that fits goes through.
@Suite("Full disk", .serialized)
struct FullDiskTests {
    /// Mounts a tmpfs of `mebibytes` for `body`; needs root (CI runs as root). Returns nil when it cannot mount
    /// on a developer's machine (with a message); fails in CI.
    static func withTmpfs(mebibytes: Int, _ body: (String) async throws -> Void) async throws {
        let folder = try TemporaryDirectory("ferry-tmpfs")
        defer { folder.remove() }
        let mountPoint = folder.path + "/disk"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        guard let mount = ExternalTool.find("mount"), let umount = ExternalTool.find("umount"), geteuid() == 0 else {
            if ExternalTool.isCI { Issue.record("CI must run as root to mount a small tmpfs for the full-disk tests") }
            print("note: not root; skipping the full-disk tests here (CI runs them as root)")
            return
        }
        let mounted = try await ExternalTool.run(
            mount,
            ["-t", "tmpfs", "-o", "size=\(mebibytes)m", "tmpfs", mountPoint]
        )
        guard mounted.status == 0 else {
            if ExternalTool.isCI { Issue.record("cannot mount a tmpfs: \(mounted.output)") }
            print("note: cannot mount a tmpfs here (\(mounted.output)); skipping the full-disk tests")
            return
        }
        defer { _ = Process.launchedProcess(launchPath: umount, arguments: ["-l", mountPoint]).waitUntilExit() }
        try await body(mountPoint)
    }

    @Test(
        "on a 40 MiB disk: a 60 MiB resumable upload is refused at creation and a 60 MiB PUT when the disk fills, both 507; no part or temporary file stays; a 10 MiB upload then succeeds; ferry send says the server is out of space without retrying"
    )
    func fullDisk() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await Self.withTmpfs(mebibytes: 40) { disk in
            try await TestServerHarness.with(configure: { configuration, _ in
                configuration.root = disk + "/root"
            }) { server in
                let big = server.folder.path + "/big.bin"
                try TestFiles.write(big, size: 60 << 20)
                let status = ["-o", "/dev/null", "-w", "%{http_code}"]
                let creation = try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + status + [
                        "-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: \(60 << 20)",
                        "-H", "Upload-Metadata: path \(Data("big.bin".utf8).base64EncodedString())",
                        "https://localhost:\(server.port)/v1/uploads",
                    ]
                )
                #expect(creation.stdout == "507", "\(creation.output)")
                let put = try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + status + ["-T", big, server.url("put.bin")]
                )
                #expect(put.stdout == "507", "\(put.output)")
                let uploads =
                    (try? FileManager.default.contentsOfDirectory(atPath: disk + "/root/.ferry/uploads")) ?? []
                let temporary = (try? FileManager.default.contentsOfDirectory(atPath: disk + "/root/.ferry/tmp")) ?? []
                #expect(uploads.isEmpty && temporary.isEmpty, "left behind: \(uploads) \(temporary)")
                #expect(!FileManager.default.fileExists(atPath: disk + "/root/acme/put.bin"))

                var environment = ProcessInfo.processInfo.environment
                environment["XDG_STATE_HOME"] = server.folder.path + "/state"
                let identity = [
                    "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca",
                    server.pki.caFile,
                ]
                let send = try await ExternalTool.run(
                    try CLITests.ferry,
                    ["send", big, "https://localhost:\(server.port)/in/", "--retry-wait", "5"] + identity,
                    environment: environment
                )
                #expect(send.status == 3, "\(send.output)")
                #expect(send.stderr.contains("out of space"), "\(send.stderr)")
                #expect(
                    !send.stderr.contains("retrying"),
                    "a full disk is not worth a retry within the run: \(send.stderr)"
                )

                // The refused uploads' files are closed and removed as their requests end (under a loaded machine a
                // moment after the answer): the space comes back.
                var free: Int64 = 0
                for _ in 0..<100 {
                    var info = statvfs()
                    if statvfs(disk, &info) == 0 { free = Int64(info.f_bavail) * Int64(info.f_frsize) }
                    if free >= 30 << 20 { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(free >= 30 << 20, "only \(free) bytes free after the refused uploads")
                let fits = server.folder.path + "/fits.bin"
                try TestFiles.write(fits, size: 10 << 20)
                let ok = try await ExternalTool.run(
                    try CLITests.ferry,
                    ["send", fits, "https://localhost:\(server.port)/in/"] + identity,
                    environment: environment
                )
                if ok.status != 0 {
                    let usage = try await ExternalTool.run("/usr/bin/du", ["-a", disk])
                    Issue.record("the disk was left full: \(ok.output)\n\(usage.stdout)")
                }
            }
        }
    }
}
