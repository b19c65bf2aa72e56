// xpfd's /metrics endpoint: an HTTP server (FlyingFox) on the address of `system
// services prometheus listen`, off when the statement is absent.
//
// Threads: xpfd's loop stays synchronous. The server runs on Swift concurrency's threads and
// never touches xpfd's objects:
// - shared memory through its own read-only mapping of the region and the status model
//   xpf-top uses (`DataplaneStatus.read`: seqlock copies of the workers' counters);
// - what xpfd's loop owns (commit count and duration, the firewall filter counts it keeps
//   across commits) as a `SupervisorMetrics` value under a lock held only to copy it;
// - listen addresses arrive as messages on a stream, which one control task applies in
//   order (the old listener is closed before the next binds).
// A scrape therefore never waits for xpfd's loop, and xpfd never waits for a scrape.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import FlyingFox
import FlyingSocks
import Foundation
import XPFMetrics
import Shared

// Safe: @unchecked only for `region`, a ShmRegion whose fields are all `let` (the mapping
// never changes after attach); concurrent scrapes only read through it, with the status
// model's seqlock and atomic loads. Everything else here is Sendable.
final class MetricsService: @unchecked Sendable {
    typealias ListenAddress = ConfigModel.ListenAddress

    private let region: ShmRegion
    private let exporter = MetricsExporter()
    private let supervisor = Locked(SupervisorMetrics())
    private let requests: AsyncStream<ListenAddress?>.Continuation
    private let stopped = DispatchSemaphore(value: 0)

    /// How long a new listener may take to bind before the control task goes on (a bind
    /// that fails is reported by the server task at once; this bounds the wait for success).
    static let listenWait: TimeInterval = 1
    /// How long xpfd's shutdown waits for the listener to close.
    static let stopWait = DispatchTimeInterval.seconds(2)

    /// Maps the region at `shmPath` read-only and starts the control task (no listener yet).
    /// Call after xpfd has blocked the signals it reads from its signalfd: the threads the
    /// server runs on inherit that mask, so a SIGTERM still reaches the signalfd.
    init(shmPath: String) throws {
        region = try ShmRegion.attach(path: shmPath, writable: false)
        let (stream, continuation) = AsyncStream.makeStream(of: ListenAddress?.self)
        requests = continuation
        Task.detached { [self] in
            await control(stream)
            stopped.signal()
        }
    }

    /// Serve /metrics on `address` from now on (nil: stop serving). Never blocks; applied in
    /// order. The same address again keeps a working listener and retries a failed one.
    func configure(_ address: ListenAddress?) { requests.yield(address) }

    /// A successful commit took `seconds`.
    func recordCommit(seconds: Double) {
        supervisor.withLock {
            $0.commits += 1
            $0.lastCommitSeconds = seconds
        }
    }

    /// The firewall filters' lifetime counts as of now (xpfd's FilterCounts).
    func recordFirewall(_ filters: [FirewallFilterCounts]) {
        supervisor.withLock { $0.firewall = filters }
    }

    /// Closes the listener (xpfd's shutdown) and waits for it, at most `stopWait`.
    func stop() {
        requests.finish()
        if stopped.wait(timeout: .now() + Self.stopWait) == .timedOut {
            logLine("xpfd", "metrics: the listener did not close within \(Self.stopWait)")
        }
    }

    // MARK: - Control task

    private struct Listener {
        let address: ListenAddress
        let server: HTTPServer
        let task: Task<Void, Never>
    }

    private func control(_ stream: AsyncStream<ListenAddress?>) async {
        var current: Listener?
        for await wanted in stream {
            if let c = current, c.address == wanted, await c.server.isListening { continue }
            if let c = current {
                await Self.close(c)
                current = nil
            }
            guard let wanted else { continue }
            current = await Self.open(wanted) { [self] in scrape() }
        }
        if let c = current { await Self.close(c) }
    }

    /// One scrape: the status model read now, the supervisor's values as of its last commit.
    private func scrape() -> HTTPResponse {
        let body = exporter.render(DataplaneStatus.read(region), supervisor.withLock { $0 })
        return HTTPResponse(statusCode: .ok, headers: [.contentType: MetricsExporter.contentType], body: Data(body))
    }

    private static func open(_ address: ListenAddress, scrape: @escaping @Sendable () -> HTTPResponse) async -> Listener? {
        let config: HTTPServer.Configuration
        do {
            config = address.address.family == .inet
                ? .init(address: try sockaddr_in.inet(ip4: "\(address.address)", port: address.port), logger: .disabled)
                : .init(address: try sockaddr_in6.inet6(ip6: "\(address.address)", port: address.port), logger: .disabled)
        } catch {
            logLine("xpfd", "metrics: cannot listen on \(address): \(error)")
            return nil
        }
        let server = HTTPServer(config: config)
        await server.appendRoute("GET /metrics") { _ in scrape() }
        let task = Task {
            do { try await server.run() } catch is CancellationError {} catch {
                logLine("xpfd", "metrics: cannot listen on \(address): \(error); /metrics is not served until a commit retries")
            }
        }
        if (try? await server.waitUntilListening(timeout: listenWait)) != nil {
            logLine("xpfd", "metrics: serving /metrics on \(address)")
        }
        return Listener(address: address, server: server, task: task)
    }

    /// Cancelling `run()` closes the listening socket and every connection before it returns.
    private static func close(_ l: Listener) async {
        let wasListening = await l.server.isListening
        l.task.cancel()
        await l.task.value
        if wasListening { logLine("xpfd", "metrics: stopped serving on \(l.address)") }
    }
}
