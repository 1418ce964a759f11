package org.phonebench.runner

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.Random
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate

/** LiteRT (TFLite runtime) implementation of [ModelLoader]: CPU builtin kernels, XNNPACK, NNAPI, GPU. */
class LiteRtEngine : ModelLoader {
    override fun load(file: File, threads: Int, delegate: String): Model {
        val options = Interpreter.Options().setNumThreads(threads)
        val closers = mutableListOf<AutoCloseable>()
        when (delegate) {
            "cpu" -> options.setUseXNNPACK(false)
            "xnnpack" -> options.setUseXNNPACK(true)
            "nnapi" -> NnApiDelegate().also { closers += it; options.addDelegate(it) }
            "gpu" -> runCatching { GpuDelegate() }.getOrElse {
                throw JobFailed("delegate_unavailable", "GPU delegate unavailable: ${it.message}")
            }.also { closers += it; options.addDelegate(it) }
            else -> throw JobFailed("delegate_unavailable", "$delegate is not available on Android")
        }
        val interpreter = try { Interpreter(file, options) } catch (e: Exception) {
            closers.forEach { it.close() }
            throw JobFailed(if (delegate in setOf("nnapi", "gpu")) "delegate_unavailable" else "model_load", e.message ?: "load failed")
        }
        return LiteRtModel(interpreter, closers)
    }
}

private class LiteRtModel(private val interpreter: Interpreter, private val closers: List<AutoCloseable>) : Model {
    private val inputs = mutableMapOf<String, MutableMap<String, Any>>()
    private val outputs = mutableMapOf<String, MutableMap<String, Any>>()
    override val signatures: Set<String> = interpreter.signatureKeys.toSet()

    override fun prepareSynthetic(signature: String, seed: Long, batchSize: Int?, ranges: Map<String, Pair<Double, Double>>) {
        val random = Random(seed)
        val classes = interpreter.getOutputTensorFromSignature(interpreter.getSignatureOutputs("infer").first(), "infer").shape().last()
        inputs[signature] = interpreter.getSignatureInputs(signature).associateWithTo(mutableMapOf()) { name ->
            val tensor = interpreter.getInputTensorFromSignature(name, signature)
            val buffer = ByteBuffer.allocateDirect(tensor.numBytes()).order(ByteOrder.nativeOrder())
            val integer = tensor.dataType().name.startsWith("INT")
            val (low, high) = ranges[name] ?: if (integer) 0.0 to classes.toDouble() else -1.0 to 1.0
            if (high <= low) throw JobFailed("input_mismatch", "input $name: no values in range [$low, $high)")  // a default range
            if (integer) {
                val first = Math.ceil(low).toInt()
                val count = Math.ceil(high).toInt() - first
                repeat(tensor.numElements()) { buffer.putInt(first + random.nextInt(count)) }
            } else {
                repeat(tensor.numElements()) { buffer.putFloat((low + random.nextDouble() * (high - low)).toFloat()) }
            }
            buffer.rewind(); buffer
        }
        outputs[signature] = interpreter.getSignatureOutputs(signature).associateWithTo(mutableMapOf()) { name ->
            ByteBuffer.allocateDirect(interpreter.getOutputTensorFromSignature(name, signature).numBytes()).order(ByteOrder.nativeOrder())
        }
    }

    override fun invoke(signature: String) {
        try {
            outputs.getValue(signature).values.forEach { (it as ByteBuffer).rewind() }
            interpreter.runSignature(inputs.getValue(signature), outputs.getValue(signature), signature)
        } catch (e: Exception) {
            throw JobFailed("invoke_failed", e.message ?: "invoke failed")
        }
    }

    override fun loss(): Double {
        val buffer = outputs.getValue("train").values.first() as ByteBuffer
        return buffer.getFloat(0).toDouble()
    }

    override fun weights(): Map<String, ByteArray> {
        val out = interpreter.getSignatureOutputs("get_weights").associateWith { name ->
            ByteBuffer.allocateDirect(interpreter.getOutputTensorFromSignature(name, "get_weights").numBytes()).order(ByteOrder.LITTLE_ENDIAN)
        }
        interpreter.runSignature(emptyMap<String, Any>(), out, "get_weights")
        return out.mapValues { (_, b) -> ByteArray(b.capacity()).also { b.rewind(); b.get(it) } }
    }

    override fun trainBatchSize(): Int = interpreter.getInputTensorFromSignature("x", "train").shape()[0]

    override fun close() {
        interpreter.close()
        closers.forEach { it.close() }
    }
}
