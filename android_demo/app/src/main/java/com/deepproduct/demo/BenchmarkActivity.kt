package com.deepproduct.demo

import android.os.Bundle
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * Runs [Benchmark] and shows the JSON. Start it over adb:
 * `adb shell am start -n com.deepproduct.demo/.BenchmarkActivity --ei runs 100 --ei warmup 10`.
 */
class BenchmarkActivity : AppCompatActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val text = TextView(this).apply { setPadding(32, 32, 32, 32); setText(R.string.benchmark_running) }
        setContentView(text)
        val runs = intent.getIntExtra("runs", 50)
        val warmup = intent.getIntExtra("warmup", 10)
        lifecycleScope.launch {
            text.text = try {
                withContext(Dispatchers.Default) { Benchmark.run(applicationContext, warmup, runs).toString(2) }
            } catch (e: Exception) {
                android.util.Log.e(Benchmark.TAG, "benchmark failed", e)
                getString(R.string.error, e.message)
            }
        }
    }
}
