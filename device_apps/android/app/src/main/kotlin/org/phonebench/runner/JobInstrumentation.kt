package org.phonebench.runner

import android.app.Activity
import android.app.Instrumentation
import android.os.Bundle
import android.os.ParcelFileDescriptor
import android.os.SystemClock
import java.io.File

/**
 * `am instrument -w -r -e job /data/local/tmp/phonebench/jobs/J.json org.phonebench.runner/org.phonebench.runner.JobInstrumentation`
 *
 * Each protocol event goes out as a status line `INSTRUMENTATION_STATUS: event=<json>` as it happens, and
 * the same lines are written to `events.jsonl` in the app's external files dir (pulled if the stream broke).
 * Apps may not read /data/local/tmp under SELinux, so the job and its artifact are copied through the
 * instrumentation's shell identity (`UiAutomation.executeShellCommand`) into the app's cache first.
 * Times are SystemClock.elapsedRealtimeNanos() (CLOCK_BOOTTIME), the clock of the on-device sampler.
 */
class JobInstrumentation : Instrumentation() {
    private var jobPath: String? = null

    override fun onCreate(arguments: Bundle?) {
        super.onCreate(arguments)
        jobPath = arguments?.getString("job")
        start()
    }

    override fun onStart() {
        val out = File(context.getExternalFilesDir(null), "events.jsonl")
        val ok = out.bufferedWriter().use { log ->
            val text = jobPath?.let { readAsShell(it) } ?: """{"protocol":1}"""
            val localJob = localiseArtifact(text)
            JobRunner(LiteRtEngine(), { SystemClock.elapsedRealtimeNanos() }, BuildConfigVersion.NAME).run(localJob) { event ->
                log.write(event.toString()); log.newLine()
                sendStatus(1, Bundle().apply { putString("event", event.toString()) })
            }
        }
        finish(if (ok) Activity.RESULT_OK else Activity.RESULT_CANCELED, Bundle().apply { putString("events_file", out.path) })
    }

    /** Rewrite artifact.path to a copy in the cache dir (the sha256 check then runs on that copy). */
    private fun localiseArtifact(jobText: String): String {
        val path = runCatching { parseJob(jobText).artifactPath }.getOrNull() ?: return jobText
        val local = File(context.cacheDir, File(path).name)
        val bytes = readBytesAsShell(path) ?: return jobText.replace(path, local.path + ".missing")
        local.writeBytes(bytes)
        return jobText.replace("\"" + path + "\"", "\"" + local.path + "\"")
    }

    private fun readAsShell(path: String): String? = readBytesAsShell(path)?.toString(Charsets.UTF_8)

    private fun readBytesAsShell(path: String): ByteArray? {
        // The path goes to `cat` as one argument via a quoted shell word: no shell expansion of job data.
        val quoted = "'" + path.replace("'", "'\\''") + "'"
        val pfd = uiAutomation.executeShellCommand("sh -c \"test -f $quoted && cat $quoted\"")
        val bytes = ParcelFileDescriptor.AutoCloseInputStream(pfd).use { it.readBytes() }
        return bytes.takeIf { it.isNotEmpty() }
    }
}

object BuildConfigVersion { const val NAME = "0.1.0" }
