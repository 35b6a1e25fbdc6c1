package import Foundation
import Synchronization

/// A built executable of this package run as a child process, with its output captured.
package final class ChildProcess: Sendable {
    private let process: Process
    private let output = Mutex<(stdout: String, stderr: String)>(("", ""))
    private let firstLine = Mutex<(line: String?, waiters: [CheckedContinuation<String?, Never>], closed: Bool)>(
        (nil, [], false))
    private let exit = Mutex<(status: Int32?, waiters: [UInt64: CheckedContinuation<Int32?, Never>], nextId: UInt64)>(
        (nil, [:], 0))
    private let logWaiters = Mutex<
        [(id: Int, text: String, count: Int, continuation: CheckedContinuation<Bool, Never>)]
    >([])
    private let nextWaiter = Mutex(0)

    /// The folder holding the package's built executables (next to the test bundle), or
    /// `MR_BIN_DIR` when set.
    package static var binDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["MR_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/"
            && !FileManager.default.fileExists(atPath: url.appendingPathComponent("mr-sts-emulator").path)
        {
            url.deleteLastPathComponent()
        }
        return url
    }

    /// Starts a program outside the build folder, such as `/bin/sleep`.
    /// An "application" that waits for SIGUSR1 (unblocked: a test runner's threads block signals
    /// and children inherit the mask), prints `got SIGUSR1` and exits 0; it prints `ready`
    /// first, and gives up after `seconds`.
    /// With `asImageUser` (and this process root), it runs as ``imageUser``.
    package static func signalTarget(seconds: Int = 60, asImageUser: Bool = false) throws -> ChildProcess {
        let python = [
            "/usr/bin/env", "python3", "-c",
            "import signal, sys\nsignal.signal(signal.SIGUSR1, lambda *_: (print('got SIGUSR1', flush=True), sys.exit(0)))\nsignal.pthread_sigmask(signal.SIG_SETMASK, [])\nsignal.alarm(\(seconds))\nprint('ready', flush=True)\nsignal.pause()",
        ]
        if asImageUser && isRoot {
            return try startSystem(
                "/usr/bin/setpriv", ["--reuid=\(imageUser)", "--regid=\(imageUser)", "--clear-groups"] + python)
        }
        return try startSystem(python[0], Array(python.dropFirst()))
    }

    package static func startSystem(_ path: String, _ arguments: [String]) throws -> ChildProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let child = ChildProcess(process: process)
        try child.launch()
        return child
    }

    /// Starts `executable` from the build folder, its standard input the file `standardInput`
    /// (default: nothing).
    package static func start(
        executable: String, arguments: [String], environment: [String: String]? = nil, currentDirectory: URL? = nil,
        standardInput: URL? = nil
    ) throws -> ChildProcess {
        let process = Process()
        process.executableURL = binDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let child = ChildProcess(process: process)
        try child.launch(standardInput: standardInput.map { try FileHandle(forReadingFrom: $0) })
        return child
    }

    /// The user and group the image runs as.
    package static let imageUser: UInt32 = 65532

    /// Whether this process is root, and so can run children as ``imageUser``.
    package static var isRoot: Bool { getuid() == 0 }

    /// Starts `executable` from the build folder as the image runs it: as uid and gid
    /// ``imageUser``, no other group, when this process is root (through `setpriv`), as the current
    /// user otherwise (who is then not root either).
    package static func startAsImageUser(
        executable: String, arguments: [String], environment: [String: String]? = nil
    ) throws -> ChildProcess {
        guard isRoot else { return try start(executable: executable, arguments: arguments, environment: environment) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments =
            ["--reuid=\(imageUser)", "--regid=\(imageUser)", "--clear-groups", "--"]
            + [binDirectory.appendingPathComponent(executable).path] + arguments
        if let environment { process.environment = environment }
        let child = ChildProcess(process: process)
        try child.launch()
        return child
    }

    /// A folder as Kubernetes mounts one for the image's user: owned by root, not writable by
    /// ``imageUser`` (as non-root: not writable by anyone), holding `files` that are writable by it
    /// (the bind-mounted termination message) or not (`writable: false`: a Secret's files).
    package static func rootOwnedFolder(
        _ folder: URL, files: [String: (content: String, writable: Bool)] = [:]
    ) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, file) in files {
            let path = folder.appending(path: name).path
            try file.content.write(toFile: path, atomically: false, encoding: .utf8)
            guard chmod(path, file.writable ? 0o666 : 0o444) == 0 else { throw TestFailure("chmod \(path)") }
        }
        guard chmod(folder.path, 0o555) == 0 else { throw TestFailure("chmod \(folder.path)") }
    }

    /// A folder as Kubernetes makes an `emptyDir` with the pod's `fsGroup`: owned by root and group
    /// ``imageUser``, group-writable, new files taking the group (setgid).
    package static func groupWritableFolder(_ folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if isRoot { guard chown(folder.path, 0, imageUser) == 0 else { throw TestFailure("chown \(folder.path)") } }
        guard chmod(folder.path, isRoot ? 0o2775 : 0o2777) == 0 else { throw TestFailure("chmod \(folder.path)") }
    }

    private init(process: Process) {
        self.process = process
    }

    private func launch(standardInput: FileHandle? = nil) throws {
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = standardInput ?? FileHandle.nullDevice
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
            resolveLogWaiters(exited: false)
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
            resolveLogWaiters(exited: true)
            let waiters = exit.withLock { state in
                state.status = process.terminationStatus
                defer { state.waiters = [:] }
                return state.waiters.values
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

    private func resolveLogWaiters(exited: Bool) {
        let text = standardError
        let ready = logWaiters.withLock { waiters -> [(CheckedContinuation<Bool, Never>, Bool)] in
            var ready: [(CheckedContinuation<Bool, Never>, Bool)] = []
            waiters.removeAll { waiter in
                if Self.occurrences(of: waiter.text, in: text) >= waiter.count {
                    ready.append((waiter.continuation, true))
                    return true
                }
                if exited {
                    ready.append((waiter.continuation, false))
                    return true
                }
                return false
            }
            return ready
        }
        for (continuation, found) in ready { continuation.resume(returning: found) }
    }

    static func occurrences(of text: String, in haystack: String) -> Int {
        haystack.components(separatedBy: text).count - 1
    }

    /// Waits until standard error holds `text` at least `count` times; `false` if the process
    /// exits first or `timeout` (a safety net, not a synchronization) passes.
    package func waitForStandardError(_ text: String, count: Int = 1, timeout: Duration = .seconds(60)) async -> Bool {
        let id = nextWaiter.withLock {
            $0 += 1
            return $0
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    self.logWaiters.withLock { $0.append((id, text, count, continuation)) }
                    self.resolveLogWaiters(exited: self.exit.withLock { $0.status != nil })
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                let pending = self.logWaiters.withLock { waiters -> CheckedContinuation<Bool, Never>? in
                    guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return waiters.remove(at: index).continuation
                }
                pending?.resume(returning: false)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if first {
                // Release the timeout task's sleep.
                return true
            }
            return false
        }
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

    /// Whether the process exits within `duration` (it goes on running otherwise): for sampling
    /// something of a running child at an interval until it exits.
    package func hasExited(within duration: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitForExit() != nil }
            group.addTask {
                try? await Task.sleep(for: duration)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || exit.withLock { $0.status != nil }
        }
    }

    /// Waits for the process to exit and returns its status.
    package func exitStatus() async -> Int32 {
        await waitForExit() ?? -1
    }

    /// The exit status, or `nil` when the waiting task is cancelled first.
    private func waitForExit() async -> Int32? {
        let id = exit.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32?, Never>) in
                let ready = exit.withLock { state -> Int32?? in
                    if let status = state.status { return .some(status) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = exit.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }

    /// Sends a signal.
    /// The child's pid.
    package var processIdentifier: Int32 { process.processIdentifier }

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

/// A field of `/proc/<pid>/status` (such as `VmRSS`), in KiB; 0 when the process is gone.
package func statusKiB(_ pid: Int32, _ field: String) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
    else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

/// How often the process's threads ran: the context switches of all of them (voluntary and not)
/// and the CPU time in clock ticks (`utime + stime`), from `/proc`.
package func schedulingCounts(_ pid: Int32) -> (switches: Int, cpuTicks: Int) {
    var switches = 0
    for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else {
            continue
        }
        for line in text.split(separator: "\n") where line.contains("ctxt_switches:") {
            switches += Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last ?? "0") ?? 0
        }
    }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    // Fields after the command (which may hold spaces) in parentheses: utime is the 14th field.
    let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
    let ticks = fields.count > 12 ? (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) : 0
    return (switches, ticks)
}

extension ChildProcess {
    /// The loopback port a daemon logged with `message` (`"mr.listen_address":"127.0.0.1:PORT"`),
    /// once that line is on standard error; `nil` when it never comes.
    package func listeningPort(_ message: String) async -> Int? {
        guard await waitForStandardError(message),
            let line = standardError.split(separator: "\n").first(where: { $0.contains(message) }),
            let range = line.range(of: #""mr.listen_address":"127.0.0.1:"#)
        else { return nil }
        return Int(line[range.upperBound...].prefix(while: \.isNumber))
    }
}

/// Whether the process has no thread named `name` (`/proc/<pid>/task/*/comm`), looked at every
/// 20 ms until it is gone or `within` has passed: for a detached thread the process starts and
/// whose end nothing else reports.
package func threadGone(_ pid: Int32, named name: String, within: Duration = .seconds(10)) async -> Bool {
    let deadline = ContinuousClock.now + within
    while ContinuousClock.now < deadline {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        let present = tasks.contains { task in
            (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) == name
        }
        if !present { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return false
}
