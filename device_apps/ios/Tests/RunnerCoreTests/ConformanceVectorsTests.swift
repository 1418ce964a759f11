import Foundation
import XCTest
@testable import RunnerCore

/// Every conformance vector of device_apps/protocol/vectors through `JobRunner`, with a fake engine (Core ML
/// prediction and MLUpdateTask are exercised on a phone by `harness bench`), checked the way
/// harness.protocol.check_stream checks a stream. The vectors name LiteRT delegates; a Core ML runner runs
/// their CPU ones (cpu, xnnpack) as coreml-cpu.
final class ConformanceVectorsTests: XCTestCase {
    private let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../protocol/vectors").standardizedFileURL
    private let notYetImplemented: Set<String> = ["train-npz-eval.json"]  // .npz input: README "Not yet"

    private final class FakeEngine: Engine {
        var signatures: Set<String> = ["infer", "train"]
        var trainBatchSize: Int? = 16
        func load(url: URL, delegate: String) throws -> Placement {
            guard CoreMLEngine.computeUnits[delegate] != nil else { throw JobFailed("delegate_unavailable", delegate) }
            return Placement(ops: 4, delegatedOps: 4, note: "fake")
        }
        func prepareSynthetic(seed: UInt64, ranges: [String: ClosedOpenRange]) throws {}
        func invoke() throws { usleep(1000) }
        func train(steps: Int, seed: UInt64, ranges: [String: ClosedOpenRange], clock: @escaping () -> UInt64,
                   onStep: @escaping (Step) -> Bool) throws {
            for index in 0..<steps {
                let start = clock()
                usleep(1000)
                if !onStep(Step(index: index, startNs: start, endNs: clock(), loss: 0.5)) { return }
            }
        }
        func weights() throws -> [String: Data] { ["head/biases": Data(count: 16), "head/weights": Data(count: 64)] }
    }

    private func run(_ vector: [String: Any], model: URL) throws -> [[String: Any]] {
        let artifact = vector["artifact"] as? [String: Any] ?? [:]
        let tamper = artifact["tamper"] as? String
        var job = vector["job"] as? [String: Any] ?? [:]
        if let delegate = job["delegate"] as? String, ["cpu", "xnnpack"].contains(delegate) { job["delegate"] = "coreml-cpu" }
        job["protocol"] = job["protocol"] ?? protocolVersion
        job["job_id"] = vector["name"]
        let digest = try sha256(of: model)
        job["artifact"] = ["path": tamper == "missing" ? model.path + ".missing" : model.path,
                           "sha256": tamper == "checksum" ? String(repeating: "0", count: 64) : digest]
        var events: [[String: Any]] = []
        JobRunner(engine: { FakeEngine() }, version: "test").run(
            jobData: try JSONSerialization.data(withJSONObject: job), base: model.deletingLastPathComponent()) {
            let line = $0.json  // what the app prints, read back as the harness reads it
            events.append(try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])
        }
        return events
    }

    func testEveryVectorConforms() throws {
        let files = try FileManager.default.contentsOfDirectory(at: vectors, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        XCTAssertFalse(files.isEmpty, "no vectors under \(vectors.path)")
        let model = FileManager.default.temporaryDirectory.appendingPathComponent("model.mlmodel")
        try Data((0..<128).map { UInt8($0) }).write(to: model)
        for file in files where !notYetImplemented.contains(file.lastPathComponent) {
            let vector = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
            let expect = vector["expect"] as! [String: Any]
            let name = file.lastPathComponent
            let events = try run(vector, model: model)
            XCTAssertEqual(events.first?["event"] as? String, "started", name)
            let terminal = events.filter { ["finished", "error"].contains($0["event"] as? String) }
            XCTAssertEqual(terminal.count, 1, name)
            let last = events.last!
            XCTAssertEqual(last["event"] as? String, expect["final"] as? String, "\(name): \(last)")
            if let code = expect["error_code"] as? String { XCTAssertEqual(last["code"] as? String, code, name) }
            let loaded = events.firstIndex { $0["event"] as? String == "loaded" }
            let kind = expect["kind"] as? String ?? "invoke"
            let timed = events.filter { $0["event"] as? String == kind }
            if let loaded, let first = events.firstIndex(where: { $0["event"] as? String == kind }) {
                XCTAssertLessThan(loaded, first, "\(name): loaded comes before the first timed event")
            }
            let measured = timed.filter { !($0["warmup"] as? Bool ?? false) }
            if let n = expect["measured"] as? Int { XCTAssertEqual(measured.count, n, name) }
            if let n = expect["warmup"] as? Int { XCTAssertEqual(timed.count - measured.count, n, name) }
            guard last["event"] as? String == "finished" else { continue }
            XCTAssertEqual(last["measured"] as? Int, measured.count, name)
            XCTAssertNotNil(last["peak_rss_bytes"], "\(name): peak_rss_bytes (phys_footprint)")
            if let span = expect["min_span_s"] as? Double {
                let ns = (measured.last!["end_ns"] as! NSNumber).uint64Value - (measured.first!["start_ns"] as! NSNumber).uint64Value
                XCTAssertGreaterThanOrEqual(Double(ns) / 1e9, span, name)
            }
            if expect["delta"] as? Bool == true { XCTAssertEqual(last["delta_bytes"] as? Int, 80, name) }
        }
    }

    func testPolicyPauseEndsTheJobWithItsReason() throws {
        let model = FileManager.default.temporaryDirectory.appendingPathComponent("paused.mlmodel")
        try Data(count: 8).write(to: model)
        let digest = try sha256(of: model)
        let job: [String: Any] = ["protocol": 1, "job_id": "p", "artifact": ["path": model.path, "sha256": digest],
                                  "signature": "train", "input": ["kind": "synthetic", "seed": 1], "warmup": 0,
                                  "train": ["steps": 5, "batch_size": 16], "threads": 1, "delegate": "coreml-ane"]
        var events: [Event] = []
        var steps = 0
        JobRunner(engine: { FakeEngine() }, version: "test").run(
            jobData: try JSONSerialization.data(withJSONObject: job), base: model.deletingLastPathComponent(),
            pause: { steps >= 2 ? "thermal state serious" : nil }) { event in
            if case .trainStep = event { steps += 1 }
            events.append(event)
        }
        XCTAssertEqual(events.last?.fields["code"] as? String, "policy_paused")
        XCTAssertEqual(steps, 2)
    }

    func testStoredZipRoundTrip() throws {
        // one stored entry "a/b.txt" = "hi", as zipfile.ZIP_STORED writes it (local header, name, data)
        var zip = Data([0x50, 0x4B, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0x21, 0, 0, 0, 0, 0, 0])
        zip += Data([2, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0]) + Data("a/b.txt".utf8) + Data("hi".utf8)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try StoredZip.unpack(zip, into: root)
        XCTAssertEqual(try String(contentsOf: root.appendingPathComponent("a/b.txt")), "hi")
    }
}
