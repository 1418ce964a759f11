import CoreML
import Foundation

/// Core ML: `infer` is a prediction on the model's inputs; `train` is MLUpdateTask on an updatable model
/// (one mini-batch = one step), `get_weights` reads its updatable layers back.
///
/// Compute units follow the job's delegate and are never silently widened: `coreml-cpu` -> .cpuOnly,
/// `gpu` -> .cpuAndGPU, `coreml-ane` -> .cpuAndNeuralEngine (refused where the phone has no Neural Engine).
/// Core ML still places each operation itself; the `loaded` event reports MLComputePlan's preferred device
/// per operation, which is what the runtime says, not a guarantee of where it ran.
public final class CoreMLEngine: Engine {
    private var compiled: URL?
    private var configuration = MLModelConfiguration()
    private var model: MLModel?
    private var inputs: MLFeatureProvider?
    private var updated: MLModel?
    private let layers: [String]  // updatable layers, from the staged `<artifact>.layers.json`

    public init(layers: [String] = []) { self.layers = layers }

    public static let computeUnits: [String: MLComputeUnits] = [
        "coreml-cpu": .cpuOnly, "gpu": .cpuAndGPU, "coreml-ane": .cpuAndNeuralEngine,
    ]

    public func load(url: URL, delegate: String) throws -> Placement {
        guard let units = Self.computeUnits[delegate] else {
            throw JobFailed("delegate_unavailable", "Core ML runs coreml-cpu, gpu or coreml-ane, not \(delegate)")
        }
        if delegate == "coreml-ane", !MLModel.availableComputeDevices.contains(where: {
            if case .neuralEngine = $0 { return true } else { return false }
        }) {
            throw JobFailed("delegate_unavailable", "this device has no Neural Engine")
        }
        configuration = MLModelConfiguration()
        configuration.computeUnits = units
        do {
            let source = try url.pathExtension == "zip" ? StoredZip.extract(url) : url
            let compiledURL = try MLModel.compileModel(at: source)
            compiled = compiledURL
            model = try MLModel(contentsOf: compiledURL, configuration: configuration)
            return placement(compiledURL, delegate: delegate)
        } catch let failed as JobFailed {
            throw failed
        } catch {
            throw JobFailed("model_load", "Core ML could not load \(url.lastPathComponent): \(error)")
        }
    }

    public var signatures: Set<String> {
        guard let model else { return [] }
        return model.modelDescription.isUpdatable ? ["infer", "train"] : ["infer"]
    }

    public func prepareSynthetic(seed: UInt64, ranges: [String: ClosedOpenRange]) throws {
        guard let model else { throw JobFailed("internal", "no model loaded") }
        var random = SeededRandom(seed: seed)
        inputs = try features(model.modelDescription.inputDescriptionsByName, ranges: ranges, random: &random)
    }

    public func invoke() throws {
        guard let model, let inputs else { throw JobFailed("internal", "no model or inputs") }
        do { _ = try model.prediction(from: inputs) } catch {
            throw JobFailed("invoke_failed", "prediction failed: \(error)")
        }
    }

    public var trainBatchSize: Int? {
        (model?.modelDescription.parameterDescriptionsByKey[.miniBatchSize]?.defaultValue as? NSNumber)?.intValue
    }

    public func train(steps: Int, seed: UInt64, ranges: [String: ClosedOpenRange], clock: @escaping () -> UInt64,
                      onStep: @escaping (Step) -> Bool) throws {
        guard let model, let compiled, let batch = trainBatchSize else {
            throw JobFailed("signature_missing", "the model is not updatable")
        }
        var random = SeededRandom(seed: seed)
        let examples = try (0..<(steps * batch)).map { _ in
            try features(model.modelDescription.trainingInputDescriptionsByName, ranges: ranges, random: &random,
                         labels: model.modelDescription.classLabels)
        }
        let config = configuration.copy() as! MLModelConfiguration  // swiftlint:disable:this force_cast
        config.parameters = [.epochs: 1, .miniBatchSize: batch, .shuffle: false]
        var stepIndex = 0
        var stepStart = clock()
        var failure: Error?
        let done = DispatchSemaphore(value: 0)
        let handlers = MLUpdateProgressHandlers(forEvents: [.miniBatchEnd], progressHandler: { context in
            let end = clock()
            guard let loss = (context.metrics[.lossValue] as? NSNumber)?.doubleValue, loss.isFinite else {
                failure = JobFailed("invoke_failed", "Core ML reported no finite loss at step \(stepIndex)")
                context.task.cancel()
                return
            }
            if !onStep(Step(index: stepIndex, startNs: stepStart, endNs: end, loss: loss)) { context.task.cancel() }
            stepIndex += 1
            stepStart = clock()
        }, completionHandler: { context in
            if context.task.state == .failed { failure = failure ?? context.task.error } else { self.updated = context.model }
            done.signal()
        })
        do {
            let task = try MLUpdateTask(forModelAt: compiled, trainingData: MLArrayBatchProvider(array: examples),
                                        configuration: config, progressHandlers: handlers)
            stepStart = clock()
            task.resume()
        } catch {
            throw JobFailed("invoke_failed", "MLUpdateTask could not start: \(error)")
        }
        done.wait()
        if let failed = failure as? JobFailed { throw failed }
        if let failure { throw JobFailed("invoke_failed", "MLUpdateTask failed: \(failure)") }
    }

    public func weights() throws -> [String: Data] {
        guard let updated else { throw JobFailed("internal", "no training has run") }
        guard !layers.isEmpty else {
            throw JobFailed("signature_missing", "no updatable layer names were staged beside the model (<artifact>.layers.json)")
        }
        var out: [String: Data] = [:]
        for layer in layers {
            for (key, suffix) in [(MLParameterKey.weights, "weights"), (MLParameterKey.biases, "biases")] {
                if let array = try? updated.parameterValue(for: key.scoped(to: layer)) as? MLMultiArray {
                    out["\(layer)/\(suffix)"] = littleEndianFloats(array)
                }
            }
        }
        return out
    }

    /// MLComputePlan's preferred device for each top-level operation (ML programs) or layer (neural networks).
    private func placement(_ compiled: URL, delegate: String) -> Placement {
        let note = "MLComputePlan preferred device per top-level operation; Core ML may still move work at run time"
        let semaphore = DispatchSemaphore(value: 0)
        let counts = Box<(Int, Int)>()
        let config = configuration
        Task.detached {
            defer { semaphore.signal() }
            guard let plan = try? await MLComputePlan.load(contentsOf: compiled, configuration: config) else { return }
            let devices: [MLComputeDevice?]
            switch plan.modelStructure {
            case let .program(program):
                devices = (program.functions["main"]?.block.operations ?? []).map { plan.deviceUsage(for: $0)?.preferred }
            case let .neuralNetwork(network):
                devices = network.layers.map { plan.deviceUsage(for: $0)?.preferred }
            default:
                return
            }
            counts.value = (devices.count, devices.filter { Self.matches($0, delegate) }.count)
        }
        semaphore.wait()
        guard let (ops, delegated) = counts.value else { return Placement(note: "MLComputePlan gave no plan for this model") }
        return Placement(ops: ops, delegatedOps: delegated, note: note)
    }

    private static func matches(_ device: MLComputeDevice?, _ delegate: String) -> Bool {
        switch (device, delegate) {
        case (.cpu?, "coreml-cpu"), (.gpu?, "gpu"), (.neuralEngine?, "coreml-ane"): return true
        default: return false
        }
    }
}

/// A value handed back from a detached task the caller waits for.
final class Box<T>: @unchecked Sendable { var value: T? }

/// A feature provider of synthetic values for every multi-array input (and a class label for a string input).
func features(_ descriptions: [String: MLFeatureDescription], ranges: [String: ClosedOpenRange],
              random: inout SeededRandom, labels: [Any]? = nil) throws -> MLFeatureProvider {
    var values: [String: MLFeatureValue] = [:]
    for name in descriptions.keys.sorted() {
        let description = descriptions[name]!
        switch description.type {
        case .multiArray:
            guard let constraint = description.multiArrayConstraint else { continue }
            let array = try MLMultiArray(shape: constraint.shape, dataType: .float32)
            let range = ranges[name] ?? ClosedOpenRange(low: -1, high: 1)
            for i in 0..<array.count { array[i] = NSNumber(value: Float(random.uniform(range))) }
            values[name] = MLFeatureValue(multiArray: array)
        case .string:
            let classes = (labels ?? []).compactMap { $0 as? String }
            guard !classes.isEmpty else { throw JobFailed("input_mismatch", "no class labels for the string input \(name)") }
            values[name] = MLFeatureValue(string: classes[Int(random.next() % UInt64(classes.count))])
        case .int64:
            let range = ranges[name] ?? ClosedOpenRange(low: 0, high: Double(max(1, labels?.count ?? 1)))
            values[name] = MLFeatureValue(int64: Int64(random.uniform(range).rounded(.down)))
        default:
            throw JobFailed("input_mismatch", "input \(name) has a type the runner cannot draw (\(description.type))")
        }
    }
    return try MLDictionaryFeatureProvider(dictionary: values)
}

/// The array's values as float32, little-endian (the protocol's raw tensor bytes).
func littleEndianFloats(_ array: MLMultiArray) -> Data {
    var data = Data(capacity: array.count * 4)
    for i in 0..<array.count {
        var bits = array[i].floatValue.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
    }
    return data
}
