package com.deepproduct.demo

import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import java.io.File
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith

/**
 * Instrumentation entry for the benchmark (CI device farms, no UI):
 * `adb shell am instrument -w -e class com.deepproduct.demo.BenchmarkTest -e runs 100
 *  com.deepproduct.demo.test/androidx.test.runner.AndroidJUnitRunner`
 */
@RunWith(AndroidJUnit4::class)
class BenchmarkTest {
    @Test
    fun writesBenchmarkJson() {
        val context = InstrumentationRegistry.getInstrumentation().targetContext
        val args = InstrumentationRegistry.getArguments()
        val report = Benchmark.run(
            context,
            warmup = args.getString("warmup")?.toInt() ?: 10,
            runs = args.getString("runs")?.toInt() ?: 50,
        )
        assertTrue(report.getJSONArray("results").length() >= 8)
        assertTrue(File(context.filesDir, Benchmark.FILE).isFile)
    }
}
