import CryptoKit
import Foundation

/// Runs one protocol job (device_apps/protocol/README.md, "A runner's duties") with an `Engine`, handing each
/// event to `emit` as it happens; never writes inside a timed region.
public final class JobRunner {
    private let makeEngine: () -> Engine
    private let clock: () -> UInt64
    private let thermal: () -> String
    private let version: String

    public init(engine: @escaping () -> Engine, clock: @escaping () -> UInt64 = DeviceState.nowNs,
                thermal: @escaping () -> String = DeviceState.thermalState, version: String) {
        makeEngine = engine; self.clock = clock; self.thermal = thermal; self.version = version
    }

    /// Run the job in `jobData`; relative paths in it are resolved against `base` (the app's home directory,
    /// where the harness stages into the container). `pause`, asked between invokes and steps, ends the job
    /// with `policy_paused` and its reason when it returns one (a scheduler's policy; docs/policies.md).
    public func run(jobData: Data, base: URL, pause: @escaping () -> String? = { nil },
                    emit: @escaping (Event) -> Void) {
        let id = jobIdOf(jobData)
        emit(.started(jobId: id, tNs: clock(), version: version))
        do {
            let job: Job
            do { job = try parseJob(jobData) } catch let bad as BadJob { throw JobFailed("bad_job", bad.description) }
            try run(job, base: base, pause: pause, emit: emit)
        } catch let failed as JobFailed {
            emit(.error(jobId: id, code: failed.code, message: failed.message))
        } catch {
            emit(.error(jobId: id, code: "internal", message: "\(error)"))
        }
    }

    private func run(_ job: Job, base: URL, pause: @escaping () -> String?, emit: @escaping (Event) -> Void) throws {
        let url = resolve(job.artifactPath, base: base)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw JobFailed("artifact_missing", "no file at \(job.artifactPath)")
        }
        let digest = try sha256(of: url)
        guard digest == job.artifactSha256 else {
            throw JobFailed("checksum_mismatch", "\(job.artifactPath) has sha256 \(digest), the job names \(job.artifactSha256)")
        }
        if let cpus = job.cpus {
            throw JobFailed("placement_unavailable", "iOS lets no app pin itself to CPUs \(cpus)")
        }
        if job.npzPath != nil || job.hasEval {
            throw JobFailed("input_mismatch", "the iOS companion does not read .npz input or run eval yet")
        }
        let memory = PeakMemory()
        let engine = makeEngine()
        let loadStart = clock()
        let placement = try engine.load(url: url, delegate: job.delegate)
        emit(.loaded(jobId: job.jobId, tNs: clock(), loadMs: Double(clock() - loadStart) / 1e6, placement: placement))
        var state = thermal()
        emit(.thermal(jobId: job.jobId, tNs: clock(), state: state))
        let watchThermal = { [self] in
            let now = thermal()
            if now != state { state = now; emit(.thermal(jobId: job.jobId, tNs: clock(), state: now)) }
        }
        guard engine.signatures.contains(job.signature) else {
            throw JobFailed("signature_missing", "the model has no \(job.signature) signature")
        }
        let measured: Int
        var delta: Delta?
        if job.signature == "infer" {
            measured = try infer(job, engine: engine, emit: emit, between: {
                memory.sample(); watchThermal()
                if let why = pause() { throw JobFailed("policy_paused", why) }
            })
        } else {
            guard let train = job.train else { throw JobFailed("bad_job", "train needs a train object") }
            if let batch = engine.trainBatchSize, batch != train.batchSize {
                throw JobFailed("input_mismatch", "the model trains on batches of \(batch), the job asks \(train.batchSize)")
            }
            var paused: String?
            try engine.train(steps: job.warmup + train.steps, seed: job.seed ?? 0, ranges: job.ranges, clock: clock) {
                step in
                emit(.trainStep(jobId: job.jobId, step: step.index, warmup: step.index < job.warmup,
                                startNs: step.startNs, endNs: step.endNs, loss: step.loss))
                memory.sample(); watchThermal()
                paused = pause()
                return paused == nil
            }
            if let paused { throw JobFailed("policy_paused", paused) }
            measured = train.steps
            delta = try deltaOf(engine.weights())
        }
        memory.sample()
        emit(.finished(jobId: job.jobId, tNs: clock(), measured: measured, delta: delta, peakRssBytes: memory.bytes))
    }

    private func infer(_ job: Job, engine: Engine, emit: (Event) -> Void, between: () throws -> Void) throws -> Int {
        try engine.prepareSynthetic(seed: job.seed ?? 0, ranges: job.ranges)
        for index in 0..<job.warmup {
            let start = clock()
            try engine.invoke()
            let end = clock()
            emit(.invoke(jobId: job.jobId, index: index, warmup: true, startNs: start, endNs: end))
            try between()
        }
        var count = 0
        var first: UInt64?
        while true {
            let start = clock()
            try engine.invoke()
            let end = clock()
            first = first ?? start
            emit(.invoke(jobId: job.jobId, index: job.warmup + count, warmup: false, startNs: start, endNs: end))
            count += 1
            try between()
            let spanS = Double(end - (first ?? end)) / 1e9
            if count >= (job.iterations ?? 1) && spanS >= job.minDurationS { return count }
        }
    }
}

/// A job's path: absolute, or relative to the app's home directory.
public func resolve(_ path: String, base: URL) -> URL {
    path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
}

/// sha256 of a file, streamed.
public func sha256(of url: URL) throws -> String {
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    var hasher = SHA256()
    while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty { hasher.update(data: block) }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}

/// `delta_bytes` and `delta_sha256` of `get_weights` (names in sorted order, then their raw bytes).
public func deltaOf(_ tensors: [String: Data]) -> Delta {
    var hasher = SHA256()
    for name in tensors.keys.sorted() {
        hasher.update(data: Data(name.utf8))
        hasher.update(data: tensors[name]!)
    }
    return Delta(bytes: tensors.values.reduce(0) { $0 + $1.count },
                 sha256: hasher.finalize().map { String(format: "%02x", $0) }.joined())
}
