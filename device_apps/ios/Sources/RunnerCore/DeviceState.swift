import Foundation
#if canImport(Darwin)
import Darwin
#endif

/// The phone as the runner sees it: its clock, its thermal state, this process's memory.
public enum DeviceState {
    /// mach_absolute_time in ns (CLOCK_UPTIME_RAW): the clock the harness reads over DVT (`machTimeInfo`)
    /// to stamp its telemetry, so events and samples line up.
    public static func nowNs() -> UInt64 { clock_gettime_nsec_np(CLOCK_UPTIME_RAW) }

    /// `ProcessInfo.thermalState` as the protocol's `thermal` event names it.
    public static func thermalState() -> String {
        switch ProcessInfo.processInfo.thermalState {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return "unknown"
        }
    }

    /// This process's physical footprint (task_info TASK_VM_INFO `phys_footprint`, what jetsam counts) and the
    /// kernel's peak of it (`ledger_phys_footprint_peak`); nil if task_info fails.
    public static func physFootprint() -> (now: UInt64, peak: UInt64)? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<integer_t>.size)
        let result = withUnsafeMutablePointer(to: &info) {
            $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        guard result == KERN_SUCCESS else { return nil }
        return (info.phys_footprint, UInt64(max(0, info.ledger_phys_footprint_peak)))
    }
}

/// The highest footprint seen during a job: the kernel's peak where it keeps one, and readings between events.
public final class PeakMemory {
    private(set) var peak: UInt64 = 0
    public init() { sample() }
    public func sample() {
        if let reading = DeviceState.physFootprint() { peak = max(peak, reading.now, reading.peak) }
    }
    public var bytes: UInt64? { peak > 0 ? peak : nil }
}
