import Foundation

/// The policy keys of a train job (docs/policies.md), as a scheduler reads them.
public struct Policy: Equatable {
    public let name: String
    public let requiresCharging: Bool
    public let minBatteryPct: Double
    public let pauseAtStatus: Int  // Android scale: the update pauses at this status or above

    public init(name: String, requiresCharging: Bool, minBatteryPct: Double, pauseAtStatus: Int) {
        self.name = name; self.requiresCharging = requiresCharging
        self.minBatteryPct = minBatteryPct; self.pauseAtStatus = pauseAtStatus
    }

    /// The job's `policy` object, if it has one.
    public static func of(jobData: Data) -> Policy? {
        guard let root = (try? JSONSerialization.jsonObject(with: jobData)) as? [String: Any],
              let policy = root["policy"] as? [String: Any], let name = policy["name"] as? String else { return nil }
        return Policy(name: name, requiresCharging: policy["requires_charging"] as? Bool ?? true,
                      minBatteryPct: (policy["min_battery_pct"] as? NSNumber)?.doubleValue ?? 0,
                      pauseAtStatus: policy["pause_at_status"] as? Int ?? 3)
    }

    /// `ProcessInfo.thermalState` on the Android scale docs/policies.md maps it to.
    public static func level(ofThermalState state: String) -> Int {
        ["nominal": 0, "fair": 1, "serious": 3, "critical": 4][state] ?? 4
    }

    /// Why an update may not run now (nil: it may): charging, battery level, thermal state, Low Power Mode.
    public func blocker(charging: Bool, batteryPct: Double, thermalState: String, lowPower: Bool) -> String? {
        if requiresCharging && !charging { return "not charging" }
        if batteryPct < minBatteryPct { return "battery \(Int(batteryPct)) % < \(Int(minBatteryPct)) %" }
        if Policy.level(ofThermalState: thermalState) >= pauseAtStatus { return "thermal state \(thermalState)" }
        if lowPower { return "Low Power Mode" }
        return nil
    }
}
