import AzureCore
import Foundation
import SidecarConfig
import TestSupport
import Testing
import TokenSidecarTesting

@testable import TokenSidecar

@Suite("Notifications: the pid file cannot stall refreshes or aim the signal elsewhere", .timeLimit(.minutes(1)))
struct NotifierTests {
    let notifier: Notifier

    init() throws {
        notifier = try Notifier(
            pipelineOptions: .init(), metrics: SidecarMetrics(board: StatusBoard(), clock: WallTime(ManualClock())))
    }

    func signal(_ path: String) -> NotifyConfiguration.Signal {
        NotifyConfiguration.Signal(pidFile: path, name: .SIGUSR1)
    }

    @Test("a FIFO, a link to /dev/zero, a large file, pid 1 and the sidecar's own pid are refused at once")
    func hostilePidFiles() async throws {
        try await withTemporaryDirectory { directory in
            let fifo = directory.appending(path: "fifo").path
            #expect(mkfifo(fifo, 0o600) == 0)
            let zero = directory.appending(path: "zero").path
            try FileManager.default.createSymbolicLink(atPath: zero, withDestinationPath: "/dev/zero")
            let large = directory.appending(path: "large").path
            try String(repeating: "1", count: 4096).write(toFile: large, atomically: true, encoding: .utf8)
            let init1 = directory.appending(path: "init").path
            try "1\n".write(toFile: init1, atomically: true, encoding: .utf8)
            let own = directory.appending(path: "own").path
            try "\(getpid())\n".write(toFile: own, atomically: true, encoding: .utf8)
            let cases = [
                (fifo, "not a regular file"), (zero, "symbolic link"), (large, "larger than 32 bytes"),
                (init1, "does not hold a process id"), (own, "names the sidecar itself"),
                (directory.appending(path: "missing").path, "cannot open"),
            ]
            for (path, expected) in cases {
                let started = ContinuousClock.now
                let problem = notifier.send(signal(path))
                #expect(problem?.contains(expected) == true, "\(path): \(problem ?? "sent")")
                #expect(ContinuousClock.now - started < .seconds(1), "never blocks")
            }
        }
    }

    @Test("a pid file naming a live process delivers the signal")
    func delivers() async throws {
        try await withTemporaryDirectory { directory in
            let target = try ChildProcess.signalTarget(seconds: 30)
            #expect(await target.firstStdoutLine() == "ready")
            let path = directory.appending(path: "app.pid").path
            try "\(target.processIdentifier)\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(notifier.send(signal(path)) == nil)
            #expect(await target.exitStatus() == 0)
            #expect(target.standardOutput.contains("got SIGUSR1"))
        }
    }
}
