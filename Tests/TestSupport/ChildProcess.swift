package import Foundation
import Synchronization

/// A built executable of this package run as a child process, with its output captured.
package final class ChildProcess: Sendable {
    private let process: Process
    private let output = Mutex<(stdout: String, stderr: String)>(("", ""))
    private let firstLine = Mutex<(line: String?, waiters: [CheckedContinuation<String?, Never>], closed: Bool)>((nil, [], false))
    private let exit = Mutex<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))

    /// The folder holding the package's built executables (next to the test bundle), or
    /// `MR_BIN_DIR` when set.
    package static var binDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["MR_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("mr-sts-emulator").path) {
            url.deleteLastPathComponent()
        }
        return url
    }

    /// Starts `executable` from the build folder.
    package static func start(
        executable: String, arguments: [String], environment: [String: String]? = nil, currentDirectory: URL? = nil
    ) throws -> ChildProcess {
        let process = Process()
        process.executableURL = binDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let child = ChildProcess(process: process)
        try child.launch()
        return child
    }

    private init(process: Process) {
        self.process = process
    }

    private func launch() throws {
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        stdout.fileHandleForReading.readabilityHandler = { [self] handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                resolveFirstLine(closed: true)
                return
            }
            output.withLock { $0.stdout += String(decoding: data, as: UTF8.self) }
            resolveFirstLine(closed: false)
        }
        stderr.fileHandleForReading.readabilityHandler = { [self] handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                return
            }
            output.withLock { $0.stderr += String(decoding: data, as: UTF8.self) }
        }
        process.terminationHandler = { [self] process in
            // Drain what is left in the pipes before reporting the exit.
            let restOut = (try? stdout.fileHandleForReading.readToEnd()) ?? nil
            let restErr = (try? stderr.fileHandleForReading.readToEnd()) ?? nil
            output.withLock {
                if let restOut { $0.stdout += String(decoding: restOut, as: UTF8.self) }
                if let restErr { $0.stderr += String(decoding: restErr, as: UTF8.self) }
            }
            resolveFirstLine(closed: true)
            let waiters = exit.withLock { state in
                state.status = process.terminationStatus
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(returning: process.terminationStatus) }
        }
        try process.run()
    }

    private func resolveFirstLine(closed: Bool) {
        let text = output.withLock { $0.stdout }
        let line = text.firstIndex(of: "\n").map { String(text[..<$0]) }
        let waiters = firstLine.withLock { state -> [CheckedContinuation<String?, Never>] in
            if state.line == nil { state.line = line }
            if closed { state.closed = true }
            guard state.line != nil || state.closed else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: line) }
    }

    /// The first line written to standard output (`nil` if it closed without one).
    package func firstStdoutLine() async -> String? {
        await withCheckedContinuation { continuation in
            let ready = firstLine.withLock { state -> (Bool, String?) in
                if state.line != nil || state.closed { return (true, state.line) }
                state.waiters.append(continuation)
                return (false, nil)
            }
            if ready.0 { continuation.resume(returning: ready.1) }
        }
    }

    /// Waits for the process to exit and returns its status.
    package func exitStatus() async -> Int32 {
        await withCheckedContinuation { continuation in
            let status = exit.withLock { state -> Int32? in
                if let status = state.status { return status }
                state.waiters.append(continuation)
                return nil
            }
            if let status { continuation.resume(returning: status) }
        }
    }

    /// Sends a signal.
    package func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    package var pid: Int32 { process.processIdentifier }
    package var standardOutput: String { output.withLock { $0.stdout } }
    package var standardError: String { output.withLock { $0.stderr } }

    deinit {
        if process.isRunning { process.terminate() }
    }
}
