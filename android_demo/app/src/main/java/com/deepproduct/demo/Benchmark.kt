package com.deepproduct.demo

import android.content.Context
import android.os.Build
import android.os.SystemClock
import android.util.Log
import com.deepproduct.core.ModelMetadata
import com.deepproduct.core.ModelMetadataReader
import com.deepproduct.core.Preprocessor
import com.deepproduct.core.ProductIndex
import com.deepproduct.core.ProductSearch
import java.io.File
import kotlin.math.ceil
import org.json.JSONArray
import org.json.JSONObject
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate

/**
 * On-device latency: the model at 1/2/4 threads with XNNPACK on and off, and on the GPU
 * delegate where the device supports it; plus preprocessing and search. Writes
 * [FILE] (p50/p90 in ms, device model) and logs the same JSON under [TAG].
 */
object Benchmark {
    const val TAG = "DeepProductBench"
    const val FILE = "benchmark.json"

    fun run(context: Context, warmup: Int = 10, runs: Int = 50): JSONObject {
        val model = SearchEngine.modelFile(context)
        val metadata = ModelMetadataReader.read(model)
        val preprocessor = Preprocessor(metadata.preprocess())
        // A fixed synthetic 1280 x 960 photo: the timing does not depend on the content.
        val (w, h) = 1280 to 960
        val photo = IntArray(w * h) { i -> (0xFF shl 24) or ((i % w) * 255 / w shl 16) or ((i / w) * 255 / h shl 8) or (i * 7 and 0xFF) }
        val input = preprocessor.preprocess(photo, w, h)

        val results = JSONArray()
        results.put(timing("preprocess ${w}x$h", warmup, runs) { preprocessor.preprocess(photo, w, h) })
        for (threads in listOf(1, 2, 4)) {
            for (xnnpack in listOf(true, false)) {
                val name = "model cpu threads=$threads xnnpack=${if (xnnpack) "on" else "off"}"
                results.put(modelTiming(name, input, warmup, runs) { LiteRtEmbedder(model, metadata, threads, xnnpack) }
                    .put("threads", threads).put("xnnpack", xnnpack))
            }
        }
        results.put(gpuTiming(model, metadata, input, warmup, runs))

        val index = context.assets.open(SearchEngine.INDEX_ASSET).use {
            ProductIndex.read(it, SearchEngine.INDEX_ASSET, metadata.modelFingerprint())
        }
        LiteRtEmbedder(model, metadata).use { embedder ->
            val query = ProductSearch.l2Normalize(embedder.embed(input))
            results.put(timing("search ${index.size()} rows ${index.dtype()}", warmup, runs) {
                index.search(query, SearchEngine.TOP_K)
            })
        }

        val report = JSONObject()
            .put("device", JSONObject()
                .put("manufacturer", Build.MANUFACTURER)
                .put("model", Build.MODEL)
                .put("soc", if (Build.VERSION.SDK_INT >= 31) Build.SOC_MODEL else JSONObject.NULL)
                .put("abi", Build.SUPPORTED_ABIS.firstOrNull())
                .put("sdk", Build.VERSION.SDK_INT))
            .put("model", JSONObject()
                .put("name", metadata.name())
                .put("precision", metadata.precision())
                .put("fingerprint", metadata.modelFingerprint())
                .put("input_size", metadata.preprocess().inputSize()))
            .put("warmup", warmup)
            .put("runs", runs)
            .put("results", results)
        val text = report.toString(2)
        // Files dir for the app, external files dir for `adb pull` without run-as.
        for (dir in listOfNotNull(context.filesDir, context.getExternalFilesDir(null))) {
            File(dir, FILE).writeText(text)
        }
        Log.i(TAG, report.toString())
        return report
    }

    private fun gpuTiming(model: File, metadata: ModelMetadata, input: FloatArray, warmup: Int, runs: Int): JSONObject =
        try {
            CompatibilityList().use { compat ->
                if (!compat.isDelegateSupportedOnThisDevice) {
                    JSONObject().put("name", "model gpu").put("available", false).put("reason", "not on the GPU compatibility list")
                } else {
                    GpuDelegate(compat.bestOptionsForThisDevice).use { gpu ->
                        modelTiming("model gpu", input, warmup, runs) { LiteRtEmbedder(model, metadata, delegate = gpu) }
                            .put("available", true)
                    }
                }
            }
        } catch (e: Exception) {
            JSONObject().put("name", "model gpu").put("available", false).put("reason", e.toString())
        }

    private fun modelTiming(name: String, input: FloatArray, warmup: Int, runs: Int, open: () -> LiteRtEmbedder): JSONObject {
        val start = SystemClock.elapsedRealtimeNanos()
        return open().use { embedder ->
            val loadMs = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
            timing(name, warmup, runs) { embedder.embed(input) }.put("load_ms", loadMs)
        }
    }

    private fun timing(name: String, warmup: Int, runs: Int, body: () -> Unit): JSONObject {
        repeat(warmup) { body() }
        val ms = DoubleArray(runs) {
            val t = SystemClock.elapsedRealtimeNanos()
            body()
            (SystemClock.elapsedRealtimeNanos() - t) / 1e6
        }.sorted()
        return JSONObject().put("name", name).put("p50_ms", percentile(ms, 0.5)).put("p90_ms", percentile(ms, 0.9))
            .put("min_ms", ms.first()).put("max_ms", ms.last())
    }

    /** Nearest-rank percentile of sorted values. */
    private fun percentile(sorted: List<Double>, p: Double) = sorted[(ceil(p * sorted.size).toInt() - 1).coerceIn(sorted.indices)]
}
