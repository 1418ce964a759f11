package org.phonebench.runner

import java.io.File
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.put
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * Runs every conformance vector of device_apps/protocol/vectors through [JobRunner] with a fake model
 * (LiteRT needs a device), checking the stream the way harness.protocol.check_stream does.
 */
class ConformanceVectorsTest {
    private val protocolDir = File(System.getProperty("protocolDir") ?: "../../protocol")
    private val vectors = File(protocolDir, "vectors").listFiles { f -> f.name.endsWith(".json") }!!.sortedBy { it.name }

    /** Protocol features the companion does not implement yet (see device_apps/android/README.md). */
    private val notYetImplemented = setOf("train-npz-eval.json")

    private class FakeModel(private val batch: Int) : Model {
        override val signatures = setOf("infer", "train", "get_weights", "set_weights")
        override fun prepareSynthetic(signature: String, seed: Long, batchSize: Int?, ranges: Map<String, Pair<Double, Double>>) {}
        override fun invoke(signature: String) { Thread.sleep(1) }
        override fun loss() = 0.5
        override fun weights() = mapOf("head/bias" to ByteArray(16), "head/kernel" to ByteArray(64))
        override fun trainBatchSize() = batch
        override fun close() {}
    }

    private fun run(vector: JsonObject, model: File): List<JsonObject> {
        val tamper = (vector["artifact"]!!.jsonObject["tamper"] as? JsonPrimitive)?.content
        val path = if (tamper == "missing") model.path + ".missing" else model.path
        val sha = if (tamper == "checksum") "0".repeat(64) else sha256(model)
        val job = buildJsonObject {
            put("protocol", PROTOCOL_VERSION); put("job_id", (vector["name"] as JsonPrimitive).content)
            put("artifact", buildJsonObject { put("path", path); put("sha256", sha) })
            vector["job"]!!.jsonObject.forEach { (k, v) -> put(k, v) }
        }
        val events = mutableListOf<JsonObject>()
        JobRunner({ _, _, _ -> FakeModel(16) }, { System.nanoTime() }, "test").run(job.toString()) { events += it }
        return events
    }

    @Test
    fun everyVectorConforms() {
        assertTrue("no vectors found under $protocolDir", vectors.isNotEmpty())
        val model = File.createTempFile("model", ".tflite").apply { writeBytes(ByteArray(128) { it.toByte() }); deleteOnExit() }
        for (file in vectors) {
            if (file.name in notYetImplemented) {
                println("SKIPPED ${file.name}: not yet implemented in the companion")
                continue
            }
            val vector = Json.parseToJsonElement(file.readText()).jsonObject
            val expect = vector["expect"]!!.jsonObject
            val events = run(vector, model)
            val name = file.name
            assertEquals("$name: first event", "started", events.first().field("event")!!.content)
            val terminal = events.filter { it.field("event")!!.content in setOf("finished", "error") }
            assertEquals("$name: exactly one terminal event, last", listOf(events.last()), terminal)
            val last = events.last()
            assertEquals("$name: final ${last}", expect.field("final")!!.content, last.field("event")!!.content)
            expect.field("error_code")?.let { assertEquals(name, it.content, last.field("code")!!.content) }
            val kind = expect.field("kind")?.content ?: "invoke"
            val timed = events.filter { it.field("event")!!.content == kind }
            val measured = timed.filter { !it.field("warmup")!!.flag() }
            expect.field("measured")?.let { assertEquals("$name: measured", it.content.toInt(), measured.size) }
            expect.field("warmup")?.let { assertEquals("$name: warmup", it.content.toInt(), timed.size - measured.size) }
            if (last.field("event")!!.content == "finished") {
                assertEquals(name, measured.size, last.field("measured")!!.content.toInt())
                expect.field("min_span_s")?.let {
                    val span = measured.last().field("end_ns")!!.content.toLong() - measured.first().field("start_ns")!!.content.toLong()
                    assertTrue("$name: span", span / 1e9 >= it.content.toDouble())
                }
                if (expect.field("delta")?.flag() == true) assertEquals(name, "80", last.field("delta_bytes")!!.content)
            }
        }
    }
}
