package org.phonebench.runner

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.doubleOrNull
import kotlinx.serialization.json.intOrNull
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.longOrNull
import kotlinx.serialization.json.put

/** Job protocol version 1 (device_apps/protocol/job.schema.json), parsed and checked without Android APIs. */
const val PROTOCOL_VERSION = 1

class BadJob(message: String) : Exception(message)

data class Job(
    val jobId: String,
    val artifactPath: String,
    val artifactSha256: String,
    val signature: String,
    val inputSeed: Long?,
    /** Synthetic input ranges [low, high) by input name (the task's input spec); protocol README duty 7. */
    val inputRanges: Map<String, Pair<Double, Double>>,
    val inputNpz: String?,
    val warmup: Int,
    val iterations: Int?,
    val minDurationS: Double,
    val trainSteps: Int?,
    val trainBatch: Int?,
    val threads: Int,
    val delegate: String,
)

private val JOB_KEYS = setOf("protocol", "job_id", "artifact", "signature", "input", "warmup", "iterations",
    "min_duration_s", "train", "threads", "delegate")
private val DELEGATES = setOf("cpu", "xnnpack", "nnapi", "gpu", "coreml-ane", "coreml-cpu")
private val JOB_ID = Regex("^[A-Za-z0-9._-]{1,64}$")
private val SHA256 = Regex("^[0-9a-f]{64}$")

/** The job id, or "unknown", so even a broken job's `error` event names something. */
fun jobIdOf(text: String): String = runCatching {
    (Json.parseToJsonElement(text).jsonObject["job_id"] as? JsonPrimitive)?.content
}.getOrNull() ?: "unknown"

fun parseJob(text: String): Job {
    val root = runCatching { Json.parseToJsonElement(text) as JsonObject }.getOrElse { throw BadJob("not a JSON object: ${it.message}") }
    val unknown = root.keys - JOB_KEYS
    if (unknown.isNotEmpty()) throw BadJob("unknown job fields: ${unknown.sorted()}")
    if (root.int("protocol") != PROTOCOL_VERSION) throw BadJob("protocol must be $PROTOCOL_VERSION, got ${root["protocol"]}")
    val jobId = root.string("job_id")
    if (!JOB_ID.matches(jobId)) throw BadJob("job_id $jobId does not match ${JOB_ID.pattern}")
    val artifact = root.obj("artifact")
    val sha = artifact.string("sha256")
    if (!SHA256.matches(sha)) throw BadJob("artifact.sha256 is not 64 lower-case hex digits")
    val signature = root.string("signature")
    if (signature !in setOf("infer", "train")) throw BadJob("signature must be infer or train, got $signature")
    val input = root.obj("input")
    val kind = input.string("kind")
    if (kind !in setOf("synthetic", "npz")) throw BadJob("input.kind must be synthetic or npz")
    val delegate = root.string("delegate")
    if (delegate !in DELEGATES) throw BadJob("delegate $delegate is not one of $DELEGATES")
    val threads = root.int("threads") ?: throw BadJob("threads is required")
    if (threads !in 1..64) throw BadJob("threads must be 1..64")
    val warmup = root.int("warmup") ?: throw BadJob("warmup is required")
    if (warmup < 0) throw BadJob("warmup must be >= 0")
    val iterations = root.int("iterations")
    if (signature == "infer" && (iterations == null || iterations < 1)) throw BadJob("infer needs iterations >= 1")
    val train = root["train"] as? JsonObject
    if (signature == "train" && train == null) throw BadJob("train needs a train object")
    val steps = train?.int("steps")
    val batch = train?.int("batch_size")
    if (train != null && ((steps ?: 0) < 1 || (batch ?: 0) < 1)) throw BadJob("train.steps and train.batch_size must be >= 1")
    val ranges = (input["ranges"] as? JsonObject ?: JsonObject(emptyMap())).mapValues { (name, value) ->
        val pair = (value as? JsonArray)?.mapNotNull { (it as? JsonPrimitive)?.doubleOrNull }
        if (pair == null || pair.size != 2 || pair[1] <= pair[0]) throw BadJob("input.ranges.$name must be [low, high] with high > low")
        pair[0] to pair[1]
    }
    val minDuration = (root["min_duration_s"] as? JsonPrimitive)?.doubleOrNull ?: 0.0
    if (minDuration < 0) throw BadJob("min_duration_s must be >= 0")
    return Job(jobId, artifact.string("path"), sha, signature,
        input.long("seed").takeIf { kind == "synthetic" }, ranges, input["path"]?.let { (it as JsonPrimitive).content },
        warmup, iterations, minDuration, steps, batch, threads, delegate)
}

private fun JsonObject.string(key: String): String =
    (this[key] as? JsonPrimitive)?.takeIf { it.isString }?.content ?: throw BadJob("$key must be a string")
private fun JsonObject.obj(key: String): JsonObject = this[key] as? JsonObject ?: throw BadJob("$key must be an object")
private fun JsonObject.int(key: String): Int? = (this[key] as? JsonPrimitive)?.takeIf { !it.isString }?.intOrNull
private fun JsonObject.long(key: String): Long? = (this[key] as? JsonPrimitive)?.longOrNull

/** One line of the event stream (events.schema.json). */
object Events {
    fun started(jobId: String, tNs: Long, version: String): JsonObject = buildJsonObject {
        put("event", "started"); put("job_id", jobId); put("protocol", PROTOCOL_VERSION); put("t_ns", tNs)
        put("runner", buildJsonObject { put("name", "android-litert"); put("version", version) })
    }
    /** After the model loaded (protocol duty 3). The Java Interpreter API does not say which operators a delegate
     *  took, and an app cannot read or set its CPU affinity through a public API: both are said, not guessed. */
    fun loaded(jobId: String, tNs: Long, loadMs: Double, delegate: String): JsonObject = buildJsonObject {
        put("event", "loaded"); put("job_id", jobId); put("t_ns", tNs); put("load_ms", loadMs)
        put("placement_note", if (delegate == "cpu") "no delegate asked: LiteRT's builtin kernels run every operator"
            else "LiteRT's Java Interpreter API does not say how many operators the $delegate delegate took")
    }
    fun invoke(jobId: String, index: Int, warmup: Boolean, startNs: Long, endNs: Long): JsonObject = buildJsonObject {
        put("event", "invoke"); put("job_id", jobId); put("index", index); put("warmup", warmup)
        put("start_ns", startNs); put("end_ns", endNs); put("latency_ms", (endNs - startNs) / 1e6)
    }
    fun trainStep(jobId: String, step: Int, warmup: Boolean, startNs: Long, endNs: Long, loss: Double): JsonObject = buildJsonObject {
        put("event", "train_step"); put("job_id", jobId); put("step", step); put("warmup", warmup)
        put("start_ns", startNs); put("end_ns", endNs); put("latency_ms", (endNs - startNs) / 1e6); put("loss", loss)
    }
    fun finished(jobId: String, tNs: Long, measured: Int, deltaBytes: Long?, deltaSha256: String?): JsonObject = buildJsonObject {
        put("event", "finished"); put("job_id", jobId); put("t_ns", tNs); put("measured", measured)
        deltaBytes?.let { put("delta_bytes", it) }
        deltaSha256?.let { put("delta_sha256", it) }
    }
    fun error(jobId: String, code: String, message: String): JsonObject = buildJsonObject {
        put("event", "error"); put("job_id", jobId); put("code", code); put("message", message)
    }
}

/** Helpers shared by the runner and the tests. */
fun JsonElement.field(name: String): JsonPrimitive? = (this as? JsonObject)?.get(name) as? JsonPrimitive
fun JsonPrimitive.flag(): Boolean = booleanOrNull ?: false
