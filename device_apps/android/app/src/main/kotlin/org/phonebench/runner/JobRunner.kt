package org.phonebench.runner

import java.io.File
import java.security.MessageDigest
import kotlinx.serialization.json.JsonObject

/** A job failure with its protocol error code. */
class JobFailed(val code: String, message: String) : Exception(message)

/** A loaded model with named signatures; the LiteRT implementation is [LiteRtEngine], tests use fakes. */
interface Model : AutoCloseable {
    val signatures: Set<String>
    /** Fill the inputs of [signature] from [seed]: each input uniform in its [ranges] entry [low, high),
     *  else floats in [-1, 1) and integers over the classes of `infer` (protocol README, duty 7). */
    fun prepareSynthetic(signature: String, seed: Long, batchSize: Int?, ranges: Map<String, Pair<Double, Double>>)
    fun invoke(signature: String)
    /** The `train` signature's loss output after an invoke. */
    fun loss(): Double
    /** `get_weights` tensors by name, raw little-endian bytes. */
    fun weights(): Map<String, ByteArray>
    /** The batch size the `train` signature was exported with. */
    fun trainBatchSize(): Int
}

fun interface ModelLoader {
    /** Load [file] with [threads] on [delegate]; throw JobFailed("delegate_unavailable"/"model_load"). */
    fun load(file: File, threads: Int, delegate: String): Model
}

fun interface Clock { fun nanos(): Long }

/**
 * Runs one job per the protocol's duties (device_apps/protocol/README.md): `started` first, validation,
 * artifact checks before loading, warm-up then measured invokes or steps, exactly one `finished` or `error`.
 */
class JobRunner(private val loader: ModelLoader, private val clock: Clock, private val version: String) {
    fun run(jobText: String, emit: (JsonObject) -> Unit): Boolean {
        val jobId = jobIdOf(jobText)
        emit(Events.started(jobId, clock.nanos(), version))
        return try {
            val job = try { parseJob(jobText) } catch (e: BadJob) { throw JobFailed("bad_job", e.message ?: "bad job") }
            val file = File(job.artifactPath)
            if (!file.isFile) throw JobFailed("artifact_missing", "${job.artifactPath} does not exist")
            val digest = sha256(file)
            if (digest != job.artifactSha256) throw JobFailed("checksum_mismatch", "sha256 of ${job.artifactPath} is $digest")
            if (job.inputNpz != null) throw JobFailed("input_mismatch", "npz input is not supported by this runner yet")
            val loadStart = clock.nanos()
            loader.load(file, job.threads, job.delegate).use { model ->
                emit(Events.loaded(jobId, clock.nanos(), (clock.nanos() - loadStart) / 1e6, job.delegate))
                if (job.signature !in model.signatures) throw JobFailed("signature_missing", "model has no ${job.signature} signature")
                val finished = if (job.signature == "infer") infer(job, model, emit) else train(job, model, emit)
                emit(finished)
            }
            true
        } catch (e: JobFailed) {
            emit(Events.error(jobId, e.code, e.message ?: e.code)); false
        } catch (e: Exception) {
            emit(Events.error(jobId, "internal", "${e.javaClass.simpleName}: ${e.message}")); false
        }
    }

    private fun infer(job: Job, model: Model, emit: (JsonObject) -> Unit): JsonObject {
        model.prepareSynthetic("infer", job.inputSeed ?: 0, null, job.inputRanges)
        for (i in 0 until job.warmup) emit(timed(job, i, true) { model.invoke("infer") })
        val minNs = (job.minDurationS * 1e9).toLong()
        var measured = 0
        var firstStart = -1L
        var lastEnd = 0L
        while (measured < job.iterations!! || lastEnd - firstStart < minNs) {
            val event = timed(job, job.warmup + measured, false) { model.invoke("infer") }
            if (firstStart < 0) firstStart = event["start_ns"].toString().toLong()
            lastEnd = event["end_ns"].toString().toLong()
            emit(event)
            measured++
        }
        return Events.finished(job.jobId, clock.nanos(), measured, null, null)
    }

    private fun train(job: Job, model: Model, emit: (JsonObject) -> Unit): JsonObject {
        val batch = model.trainBatchSize()
        if (batch != job.trainBatch) throw JobFailed("input_mismatch", "train signature has batch $batch, job asks ${job.trainBatch}")
        model.prepareSynthetic("train", job.inputSeed ?: 0, batch, job.inputRanges)
        val total = job.warmup + job.trainSteps!!
        for (step in 0 until total) {
            val start = clock.nanos()
            model.invoke("train")
            val end = clock.nanos()
            emit(Events.trainStep(job.jobId, step, step < job.warmup, start, end, model.loss()))
        }
        val weights = model.weights()
        val digest = MessageDigest.getInstance("SHA-256")
        for (name in weights.keys.sorted()) {
            digest.update(name.toByteArray(Charsets.UTF_8))
            digest.update(weights.getValue(name))
        }
        return Events.finished(job.jobId, clock.nanos(), job.trainSteps, weights.values.sumOf { it.size.toLong() },
            digest.digest().joinToString("") { "%02x".format(it) })
    }

    // Never emit inside the timed region: take both clock readings, then build the event.
    private inline fun timed(job: Job, index: Int, warmup: Boolean, body: () -> Unit): JsonObject {
        val start = clock.nanos()
        body()
        val end = clock.nanos()
        return Events.invoke(job.jobId, index, warmup, start, end)
    }
}

fun sha256(file: File): String {
    val digest = MessageDigest.getInstance("SHA-256")
    file.inputStream().use { input ->
        val buffer = ByteArray(1 shl 16)
        while (true) {
            val n = input.read(buffer)
            if (n < 0) break
            digest.update(buffer, 0, n)
        }
    }
    return digest.digest().joinToString("") { "%02x".format(it) }
}
