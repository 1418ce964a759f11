import Foundation

/// A failure that ends a job with an `error` event carrying `code` (events.schema.json's codes).
public struct JobFailed: Error {
    public let code: String
    public let message: String
    public init(_ code: String, _ message: String) { self.code = code; self.message = message }
}

/// One optimizer step as the engine reports it.
public struct Step { public let index: Int; public let startNs: UInt64; public let endNs: UInt64; public let loss: Double }

/// What runs a model: Core ML on a phone (`CoreMLEngine`), a fake in the conformance tests.
public protocol Engine: AnyObject {
    /// Load the model at `url` for `delegate`; where its operations will run.
    func load(url: URL, delegate: String) throws -> Placement
    var signatures: Set<String> { get }
    /// Draw every input of `infer` from `ranges` (floats uniform, integers uniform over low..<high), seeded.
    func prepareSynthetic(seed: UInt64, ranges: [String: ClosedOpenRange]) throws
    func invoke() throws
    /// The batch the updatable model trains on (a job asking another ends with input_mismatch).
    var trainBatchSize: Int? { get }
    /// `steps` optimizer steps on synthetic batches; each reported as it ends (timed on `clock`); `onStep`
    /// returning false stops training after that step.
    func train(steps: Int, seed: UInt64, ranges: [String: ClosedOpenRange], clock: @escaping () -> UInt64,
               onStep: @escaping (Step) -> Bool) throws
    /// `get_weights`: the personalization tensors, by name, as raw little-endian bytes.
    func weights() throws -> [String: Data]
}

/// SplitMix64: a seeded generator, so a job's synthetic input is reproducible on one runner.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [low, high).
    public mutating func uniform(_ range: ClosedOpenRange) -> Double {
        range.low + (range.high - range.low) * Double(next() >> 11) / Double(1 << 53)
    }
}
