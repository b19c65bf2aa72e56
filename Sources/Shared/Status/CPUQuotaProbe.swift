// The CPU quota a process runs under, for the scaling report's cpu-wait advice (issue 11
// §1/§2): its cgroup's, or an ancestor's — a parent's quota throttles every child, so the
// tightest (quota / period) of them all is the one to lift first. From
// /proc/PID/cgroup, cgroup v1's `cpu` hierarchy (cpu.cfs_quota_us, -1 = none) or cgroup
// v2's unified one (cpu.max, "max PERIOD" = none), walking from the process's cgroup up to
// the hierarchy's root.
public enum CPUQuotaProbe {
    /// The quota `pid` runs under, nil when none (or nothing is readable). `proc` and
    /// `cgroupRoot` are the mount points (tests give directories of their own).
    public static func quota(pid: Int32, proc: String = "/proc", cgroupRoot: String = "/sys/fs/cgroup") -> ScalingReport.CPUQuota? {
        guard let text = readWholeFile("\(proc)/\(pid)/cgroup") else { return nil }
        for line in text.split(separator: "\n") {
            // "ID:CONTROLLERS:PATH"; the path may itself hold colons.
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let controllers = parts[1].split(separator: ",").map(String.init)
            let path = String(parts[2])
            if parts[0] == "0" && controllers.isEmpty {
                // v2: the unified hierarchy, at the root or (hybrid) under unified/.
                for mount in [cgroupRoot, "\(cgroupRoot)/unified"] where readWholeFile("\(mount)/cgroup.controllers") != nil {
                    // "QUOTA PERIOD" (µs), or "max PERIOD".
                    if let q = walk(mount: mount, path: path, file: "cpu.max", unlimited: "max", share: { dir, v in
                        let f = v.split(separator: " ")
                        guard f.count == 2, let quota = Double(f[0]), let period = Double(f[1]), period > 0 else { return nil }
                        return quota / period
                    }) { return q }
                }
            } else if controllers.contains("cpu") {
                for mount in ["\(cgroupRoot)/cpu", "\(cgroupRoot)/\(parts[1])"] {
                    // The quota (µs, -1 = none) over cpu.cfs_period_us beside it.
                    if let q = walk(mount: mount, path: path, file: "cpu.cfs_quota_us", unlimited: "-1", share: { dir, v in
                        guard let quota = Double(v), quota >= 0,
                              let period = readWholeFile("\(dir)/cpu.cfs_period_us").flatMap({ Double($0.trimmingWhitespace()) }),
                              period > 0 else { return nil }
                        return quota / period
                    }) { return q }
                }
            }
        }
        return nil
    }

    /// Of the cgroups from `path` up to the root of `mount`, the one whose `file` gives the
    /// smallest CPU share (`share(directory, value)`: CPUs' worth, nil = no quota).
    static func walk(mount: String, path: String, file: String, unlimited: String,
                     share: (String, String) -> Double?) -> ScalingReport.CPUQuota? {
        var components = path.split(separator: "/").map(String.init)
        var tightest: (share: Double, quota: ScalingReport.CPUQuota)?
        while true {
            let dir = ([mount] + components).joined(separator: "/")
            if let v = readWholeFile("\(dir)/\(file)")?.trimmingWhitespace(), let s = share(dir, v), s < tightest?.share ?? .infinity {
                tightest = (s, ScalingReport.CPUQuota(file: "\(dir)/\(file)", value: v, unlimited: unlimited))
            }
            if components.isEmpty { return tightest?.quota }
            components.removeLast()
        }
    }
}
