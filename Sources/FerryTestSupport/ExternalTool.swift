public import Foundation
import Testing

/// Runs peer programs (curl, openssl, ...) for integration tests.
public enum ExternalTool {
    /// Whether the tests run in CI, where every tool must be present (nothing may be skipped).
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The absolute path of a program on PATH, or `nil`.
    public static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// A tool the test needs: its path. When it is missing, CI fails (nothing may be skipped there); on a
    /// developer's machine the test is cancelled, so it shows as skipped with the reason, never as passed.
    public static func require(_ name: String, installHint: String) throws -> String {
        if let found = find(name) { return found }
        if isCI {
            throw MissingTool(name: name, hint: installHint)
        }
        try Test.cancel("'\(name)' is not installed here; CI installs it: \(installHint)")
    }

    public struct MissingTool: Error, CustomStringConvertible {
        public let name: String
        public let hint: String
        public init(name: String, hint: String) {
            self.name = name
            self.hint = hint
        }
        public var description: String { "'\(name)' is required in CI but missing: \(hint)" }
    }

    /// The outcome of a finished process.
    public struct Outcome: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var output: String { stdout + stderr }
    }

    /// Runs a program to completion with a time limit, feeding `input` on standard input.
    ///
    /// Output goes to temporary files, never to pipes read by blocking calls: those would occupy Swift
    /// concurrency's few threads while an in-process server needs them to answer the very program being run.
    public static func run(
        _ executable: String,
        _ arguments: [String],
        input: String = "",
        timeout: TimeInterval = 120,
        environment: [String: String]? = nil,
        directory: String? = nil
    ) async throws -> Outcome {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let inputFile = scratch.appendingPathComponent("stdin")
        let outputFile = scratch.appendingPathComponent("stdout")
        let errorFile = scratch.appendingPathComponent("stderr")
        try Data(input.utf8).write(to: inputFile)
        FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardInput = try FileHandle(forReadingFrom: inputFile)
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                try await Task.sleep(for: .milliseconds(200))
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        process.waitUntilExit()
        let stdout = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
        return Outcome(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }
}
