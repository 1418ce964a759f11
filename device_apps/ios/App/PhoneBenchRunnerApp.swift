import Darwin
import RunnerCore
import SwiftUI

/// The companion: launched by the harness over DVT with `--job <container-relative path>`, it runs that one
/// job, prints its events on stdout (one JSON line each, which DVT's process control streams back) and exits.
/// Launched by hand it only says what it is; it registers the background personalization task either way.
@main
struct PhoneBenchRunnerApp: App {
    init() {
        BackgroundPersonalization.register()
        let arguments = ProcessInfo.processInfo.arguments
        if let flag = arguments.firstIndex(of: "--job"), flag + 1 < arguments.count {
            let path = arguments[flag + 1]
            Thread.detachNewThread { JobMain.run(path); exit(0) }
        } else {
            BackgroundPersonalization.schedule()
        }
    }

    var body: some Scene {
        WindowGroup {
            Text("phonebench runner \(JobMain.version)\nstarted by the harness (harness bench --device ios:<udid>)")
                .multilineTextAlignment(.center).padding()
        }
    }
}

enum JobMain {
    static let version = Bundle.main.infoDictionary?["CFBundleShortVersionString"] as? String ?? "0"

    static func run(_ path: String) {
        setvbuf(stdout, nil, _IOLBF, 0)  // one write per event line, none buffered into a timed region
        let base = URL(fileURLWithPath: NSHomeDirectory())
        let data = (try? Data(contentsOf: base.appendingPathComponent(path))) ?? Data()
        let lock = NSLock()
        JobRunner(engine: { CoreMLEngine(layers: stagedLayers(data, base: base)) }, version: version)
            .run(jobData: data, base: base) { event in
                lock.lock(); defer { lock.unlock() }
                print(event.json)
            }
    }
}

/// The updatable layer names the harness stages beside a Core ML artifact (`<artifact>.layers.json`).
func stagedLayers(_ jobData: Data, base: URL) -> [String] {
    guard let job = try? parseJob(jobData) else { return [] }
    let url = resolve(job.artifactPath, base: base).appendingPathExtension("layers.json")
    return (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String] ?? []
}
