import BackgroundTasks
import RunnerCore
import UIKit

/// Personalization as a BGProcessingTask that runs only while the phone charges and is idle (the default
/// policy of docs/policies.md): `requiresExternalPower` is the charging constraint and the system runs
/// processing tasks only when the device is idle; between steps the task checks the thermal state and
/// stops (and re-submits itself) at the policy's pause status, or when the system expires it.
/// Set by the expiration handler, read by the worker between steps.
final class ExpiryFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var flag: Bool {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}

enum BackgroundPersonalization {
    static let identifier = "org.phonebench.runner.personalize"
    /// The update to run: a protocol train job staged in the container by the harness or the app.
    static let jobPath = "Documents/phonebench/background/personalize.json"

    /// Call once, before the app finishes launching.
    static func register() {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            run(task as! BGProcessingTask)  // swiftlint:disable:this force_cast
        }
    }

    static func schedule() {
        let request = BGProcessingTaskRequest(identifier: identifier)
        request.requiresExternalPower = true  // policy requires_charging
        request.requiresNetworkConnectivity = false  // nothing leaves the phone
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        do { try BGTaskScheduler.shared.submit(request) } catch {
            NSLog("phonebench: cannot schedule personalization: %@", "\(error)")
        }
    }

    private static func run(_ task: BGProcessingTask) {
        let base = URL(fileURLWithPath: NSHomeDirectory())
        guard let data = try? Data(contentsOf: base.appendingPathComponent(jobPath)) else {
            task.setTaskCompleted(success: true)  // nothing staged to personalize
            return
        }
        let policy = Policy.of(jobData: data) ?? Policy(name: "default", requiresCharging: true, minBatteryPct: 0,
                                                       pauseAtStatus: 3)
        UIDevice.current.isBatteryMonitoringEnabled = true
        let stop = { () -> String? in
            // UIDevice is main-thread API; the worker asks between steps
            let (state, level) = Thread.isMainThread ? (UIDevice.current.batteryState, UIDevice.current.batteryLevel)
                : DispatchQueue.main.sync { (UIDevice.current.batteryState, UIDevice.current.batteryLevel) }
            return policy.blocker(charging: state == .charging || state == .full, batteryPct: Double(max(0, level)) * 100,
                                  thermalState: DeviceState.thermalState(),
                                  lowPower: ProcessInfo.processInfo.isLowPowerModeEnabled)
        }
        if let why = stop() {
            NSLog("phonebench: personalization deferred: %@", why)
            schedule()
            task.setTaskCompleted(success: false)
            return
        }
        let expired = ExpiryFlag()
        let worker = Thread {
            var ended: Event?
            let runner = JobRunner(engine: { CoreMLEngine(layers: stagedLayers(data, base: base)) }, version: "bg")
            runner.run(jobData: data, base: base, pause: { expired.flag ? "expired by the system" : stop() }) {
                ended = $0
            }
            guard case .finished? = ended else {
                NSLog("phonebench: personalization stopped: %@", ended?.json ?? "no event")
                schedule()  // resumes when the requirements hold again
                task.setTaskCompleted(success: false)
                return
            }
            task.setTaskCompleted(success: true)
        }
        task.expirationHandler = { expired.flag = true }
        worker.start()
    }
}
