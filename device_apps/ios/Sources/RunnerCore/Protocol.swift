import Foundation

/// Job protocol version 1 (device_apps/protocol/job.schema.json), parsed and checked without Core ML.
public let protocolVersion = 1

public struct BadJob: Error, CustomStringConvertible {
    public let description: String
    init(_ message: String) { description = message }
}

public struct TrainSpec: Equatable { public let steps: Int; public let batchSize: Int }

public struct Job {
    public let jobId: String
    public let artifactPath: String
    public let artifactSha256: String
    public let signature: String  // "infer" | "train"
    public let seed: UInt64?  // synthetic input; nil for an .npz input
    public let ranges: [String: ClosedOpenRange]
    public let npzPath: String?
    public let hasEval: Bool
    public let cpus: [Int]?  // CPU ids to pin to: iOS has no API for it (placement_unavailable)
    public let warmup: Int
    public let iterations: Int?
    public let minDurationS: Double
    public let train: TrainSpec?
    public let threads: Int
    public let delegate: String
}

/// `[low, high)` of one synthetic input (protocol README duty 7).
public struct ClosedOpenRange: Equatable { public let low: Double; public let high: Double }

private let jobKeys: Set<String> = ["protocol", "job_id", "artifact", "signature", "input", "warmup", "iterations",
                                    "min_duration_s", "train", "eval", "policy", "threads", "delegate", "cpus"]
public let protocolDelegates: Set<String> = ["cpu", "xnnpack", "nnapi", "gpu", "coreml-ane", "coreml-cpu"]

private func matches(_ text: String, _ pattern: String) -> Bool {
    text.range(of: pattern, options: .regularExpression) != nil
}

/// The job id of any JSON text, or "unknown", so even a broken job's `error` event names something.
public func jobIdOf(_ data: Data) -> String {
    let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    return (root?["job_id"] as? String) ?? "unknown"
}

public func parseJob(_ data: Data) throws -> Job {
    guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
        throw BadJob("not a JSON object")
    }
    let unknown = Set(root.keys).subtracting(jobKeys)
    if !unknown.isEmpty { throw BadJob("unknown job fields: \(unknown.sorted())") }
    guard let version = root["protocol"] as? Int, version == protocolVersion else {
        throw BadJob("protocol must be \(protocolVersion), got \(String(describing: root["protocol"] ?? "nothing"))")
    }
    guard let jobId = root["job_id"] as? String, matches(jobId, "^[A-Za-z0-9._-]{1,64}$") else {
        throw BadJob("job_id must match ^[A-Za-z0-9._-]{1,64}$")
    }
    guard let artifact = root["artifact"] as? [String: Any], let path = artifact["path"] as? String, !path.isEmpty,
          let sha = artifact["sha256"] as? String, matches(sha, "^[0-9a-f]{64}$") else {
        throw BadJob("artifact needs a path and a 64-hex-digit sha256")
    }
    guard let signature = root["signature"] as? String, ["infer", "train"].contains(signature) else {
        throw BadJob("signature must be infer or train")
    }
    guard let input = root["input"] as? [String: Any], let kind = input["kind"] as? String,
          ["synthetic", "npz"].contains(kind) else { throw BadJob("input.kind must be synthetic or npz") }
    guard let delegate = root["delegate"] as? String, protocolDelegates.contains(delegate) else {
        throw BadJob("delegate must be one of \(protocolDelegates.sorted())")
    }
    guard let threads = root["threads"] as? Int, (1...64).contains(threads) else { throw BadJob("threads must be 1..64") }
    guard let warmup = root["warmup"] as? Int, warmup >= 0 else { throw BadJob("warmup must be an integer >= 0") }
    let iterations = root["iterations"] as? Int
    if signature == "infer", (iterations ?? 0) < 1 { throw BadJob("infer needs iterations >= 1") }
    var train: TrainSpec?
    if let spec = root["train"] as? [String: Any] {
        guard let steps = spec["steps"] as? Int, let batch = spec["batch_size"] as? Int, steps >= 1, batch >= 1 else {
            throw BadJob("train.steps and train.batch_size must be >= 1")
        }
        train = TrainSpec(steps: steps, batchSize: batch)
    }
    if signature == "train", train == nil { throw BadJob("train needs a train object") }
    var ranges: [String: ClosedOpenRange] = [:]
    for (name, value) in (input["ranges"] as? [String: Any]) ?? [:] {
        guard let pair = value as? [NSNumber], pair.count == 2, pair[1].doubleValue > pair[0].doubleValue else {
            throw BadJob("input.ranges.\(name) must be [low, high] with high > low")
        }
        ranges[name] = ClosedOpenRange(low: pair[0].doubleValue, high: pair[1].doubleValue)
    }
    let minDuration = (root["min_duration_s"] as? NSNumber)?.doubleValue ?? 0
    if minDuration < 0 { throw BadJob("min_duration_s must be >= 0") }
    let seed = (input["seed"] as? NSNumber).map { UInt64(max(0, $0.int64Value)) }
    if kind == "synthetic", seed == nil { throw BadJob("a synthetic input needs a seed") }
    return Job(jobId: jobId, artifactPath: path, artifactSha256: sha, signature: signature,
               seed: kind == "synthetic" ? seed : nil, ranges: ranges, npzPath: input["path"] as? String,
               hasEval: root["eval"] != nil, cpus: root["cpus"] as? [Int],
               warmup: warmup, iterations: iterations, minDurationS: minDuration, train: train, threads: threads,
               delegate: delegate)
}

/// One line of the event stream (events.schema.json); `json` is the line, keys sorted.
public enum Event {
    case started(jobId: String, tNs: UInt64, version: String)
    case loaded(jobId: String, tNs: UInt64, loadMs: Double, placement: Placement)
    case invoke(jobId: String, index: Int, warmup: Bool, startNs: UInt64, endNs: UInt64)
    case trainStep(jobId: String, step: Int, warmup: Bool, startNs: UInt64, endNs: UInt64, loss: Double)
    case thermal(jobId: String, tNs: UInt64, state: String)
    case finished(jobId: String, tNs: UInt64, measured: Int, delta: Delta?, peakRssBytes: UInt64?)
    case error(jobId: String, code: String, message: String)

    public var fields: [String: Any] {
        switch self {
        case let .started(id, t, version):
            return ["event": "started", "job_id": id, "protocol": protocolVersion, "t_ns": t,
                    "runner": ["name": "ios-coreml", "version": version]]
        case let .loaded(id, t, ms, placement):
            var out: [String: Any] = ["event": "loaded", "job_id": id, "t_ns": t, "load_ms": ms]
            if let ops = placement.ops { out["ops"] = ops }
            if let delegated = placement.delegatedOps { out["delegated_ops"] = delegated }
            if let ops = placement.ops, let delegated = placement.delegatedOps { out["fully_delegated"] = ops == delegated }
            out["placement_note"] = placement.note
            return out
        case let .invoke(id, index, warmup, start, end):
            return ["event": "invoke", "job_id": id, "index": index, "warmup": warmup, "start_ns": start,
                    "end_ns": end, "latency_ms": Double(end - start) / 1e6]
        case let .trainStep(id, step, warmup, start, end, loss):
            return ["event": "train_step", "job_id": id, "step": step, "warmup": warmup, "start_ns": start,
                    "end_ns": end, "latency_ms": Double(end - start) / 1e6, "loss": loss]
        case let .thermal(id, t, state):
            return ["event": "thermal", "job_id": id, "t_ns": t, "state": state]
        case let .finished(id, t, measured, delta, peak):
            var out: [String: Any] = ["event": "finished", "job_id": id, "t_ns": t, "measured": measured]
            if let delta { out["delta_bytes"] = delta.bytes; out["delta_sha256"] = delta.sha256 }
            if let peak { out["peak_rss_bytes"] = peak }
            return out
        case let .error(id, code, message):
            return ["event": "error", "job_id": id, "code": code, "message": message]
        }
    }

    public var json: String {
        let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

/// Where the model's operations run, as far as the runtime says (the `loaded` event).
public struct Placement {
    public var ops: Int?
    public var delegatedOps: Int?
    public var note: String
    public init(ops: Int? = nil, delegatedOps: Int? = nil, note: String) {
        self.ops = ops; self.delegatedOps = delegatedOps; self.note = note
    }
}

/// What `get_weights` returned: total bytes and sha256 over (name UTF-8, raw little-endian bytes) in name order.
public struct Delta: Equatable { public let bytes: Int; public let sha256: String }
