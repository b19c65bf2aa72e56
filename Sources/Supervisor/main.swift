// xpfd: the xpf supervisor.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Shared

struct XPFD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xpfd",
        abstract: "The xpf supervisor: shared memory, XDP programs, one worker per NIC queue.",
        discussion: """
        Runs in the foreground and logs to stderr. Creates the shared-memory region (/dev/shm/xpf-<basename of the state directory>, linked as DIR/shm), attaches the XDP program to every interface in `system dataplane interfaces` (native mode first, generic as fallback), starts one xpf-worker per queue pinned to a NUMA-local core, restarts workers that die, and mirrors the kernel's routes and neighbours. `system dataplane queues` changes by commit within `max-queues` (the queues the region is laid out for): a queue beyond it is parked — its worker stopped, its sessions kept, aged and cleared by xpfd — and started again by a commit that raises it.

        The state directory holds the pid file, the control socket DIR/xpfd.sock that xpfctl talks to, and the commit history DIR/commits/ (the last 50 configurations, for `xpfctl rollback`).

        Security events (session create/close, denies, table full) come from the workers' event rings; xpfd writes them as Junos RT_FLOW syslog to the destinations of `system syslog` and `security log`: files in the log directory, UDP hosts and unix sockets.

        Signals: SIGTERM/SIGINT stop the workers, detach XDP and remove the region; SIGHUP commits the configuration file again (like `xpfctl commit`).

        Exit codes: 0 stopped by a signal; 1 runtime failure; 2 configuration error.
        """)

    @Option(name: .long, help: "Configuration file (Junos syntax).")
    var config: String

    @Option(name: .long, help: "State directory: pid file, control socket, link to shared memory.")
    var stateDir: String = "/run/xpf"

    @Option(name: .long, help: "XDP object file (default: found next to the binary or in the source tree's bpf/build/).")
    var bpfObject: String?

    @Option(name: .long, help: "xpf-worker binary (default: next to xpfd).")
    var workerBinary: String?

    @Option(name: .long, help: "Directory of the `system syslog file` and `security log file` logs (default: the state directory).")
    var logDir: String?

    func run() throws {
        let d = Daemon(DaemonOptions(configPath: config, stateDir: stateDir, bpfObject: bpfObject, workerBinary: workerBinary,
                                   logDir: logDir ?? stateDir))
        let code = d.run()
        if code != 0 { throw ExitCode(code) }
    }
}

XPFD.main()
