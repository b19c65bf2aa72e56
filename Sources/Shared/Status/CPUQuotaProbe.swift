// The CPU quota a process runs under, for the scaling report's cpu-wait advice (issue 11
// §1/§2): its cgroup's, or an ancestor's — a parent's quota throttles every child. From
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
                    if let q = walk(mount: mount, path: path, file: "cpu.max", unlimited: "max", limited: { v in
                        v.split(separator: " ").first.map { $0 != "max" } ?? false
                    }) { return q }
                }
            } else if controllers.contains("cpu") {
                for mount in ["\(cgroupRoot)/cpu", "\(cgroupRoot)/\(parts[1])"] {
                    if let q = walk(mount: mount, path: path, file: "cpu.cfs_quota_us", unlimited: "-1", limited: { v in
                        Int(v).map { $0 >= 0 } ?? false
                    }) { return q }
                }
            }
        }
        return nil
    }

    /// The first cgroup from `path` up to the root of `mount` whose `file` says `limited`.
    static func walk(mount: String, path: String, file: String, unlimited: String,
                     limited: (String) -> Bool) -> ScalingReport.CPUQuota? {
        var components = path.split(separator: "/").map(String.init)
        while true {
            let dir = ([mount] + components).joined(separator: "/")
            if let v = readWholeFile("\(dir)/\(file)")?.trimmingWhitespace(), limited(v) {
                return ScalingReport.CPUQuota(file: "\(dir)/\(file)", value: v, unlimited: unlimited)
            }
            if components.isEmpty { return nil }
            components.removeLast()
        }
    }
}
