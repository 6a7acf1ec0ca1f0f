package com.deepproduct.demo

import android.Manifest
import android.content.pm.PackageManager
import android.net.Uri
import android.os.Bundle
import android.os.SystemClock
import android.view.inputmethod.EditorInfo
import android.widget.Button
import android.widget.EditText
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.TextView
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageCapture
import androidx.camera.core.ImageCaptureException
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import androidx.lifecycle.lifecycleScope
import com.deepproduct.core.SearchResult
import java.io.File
import java.util.Locale
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * Take or pick a photo, search the bundled catalog (or a `deepproduct serve` server, when its URL
 * is set), show the top products with their scores.
 */
class MainActivity : AppCompatActivity() {
    private var engine: SearchEngine? = null
    private var imageCapture: ImageCapture? = null
    private lateinit var status: TextView
    private lateinit var results: LinearLayout

    private val pickPhoto = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        uri?.let(::search)
    }
    private val cameraPermission = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else status.setText(R.string.camera_denied)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        status = findViewById(R.id.status)
        results = findViewById(R.id.results)
        findViewById<Button>(R.id.pick_photo).setOnClickListener {
            pickPhoto.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
        }
        findViewById<Button>(R.id.take_photo).setOnClickListener { takePhoto() }
        val preferences = getSharedPreferences(SearchEngine.PREFERENCES, MODE_PRIVATE)
        val serverUrl = findViewById<EditText>(R.id.server_url)
        serverUrl.setText(preferences.getString(SearchEngine.SERVER_URL, ""))
        serverUrl.setOnEditorActionListener { view, action, _ ->
            if (action != EditorInfo.IME_ACTION_DONE) return@setOnEditorActionListener false
            val url = view.text.toString().trim()
            preferences.edit().putString(SearchEngine.SERVER_URL, url).apply()
            loadEngine(url)
            true
        }
        loadEngine(serverUrl.text.toString().trim())
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            cameraPermission.launch(Manifest.permission.CAMERA)
        }
    }

    /** (Re)loads the model and the catalog: the bundled index, or the server at [serverUrl]. */
    private fun loadEngine(serverUrl: String) {
        engine?.close()
        engine = null
        status.setText(R.string.loading)
        lifecycleScope.launch {
            try {
                val loaded = withContext(Dispatchers.IO) { SearchEngine.load(applicationContext, serverUrl) }
                engine = loaded
                val index = loaded.local?.index()
                status.text = if (index != null) {
                    getString(R.string.ready, loaded.metadata.name(), index.size(), index.productIds().size)
                } else {
                    getString(R.string.ready_remote, loaded.metadata.name(), loaded.remote!!.searchUrl())
                }
            } catch (e: Exception) {
                status.text = getString(R.string.error, e.message)
            }
        }
    }

    override fun onDestroy() {
        engine?.close()
        super.onDestroy()
    }

    private fun startCamera() {
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            val preview = Preview.Builder().build().also {
                it.setSurfaceProvider(findViewById<PreviewView>(R.id.preview).surfaceProvider)
            }
            val capture = ImageCapture.Builder().build()
            future.get().run {
                unbindAll()
                bindToLifecycle(this@MainActivity, CameraSelector.DEFAULT_BACK_CAMERA, preview, capture)
            }
            imageCapture = capture
        }, ContextCompat.getMainExecutor(this))
    }

    private fun takePhoto() {
        val capture = imageCapture ?: return
        // The JPEG carries the sensor rotation as EXIF orientation; Photos.load applies it.
        val file = File(cacheDir, "capture.jpg")
        capture.takePicture(
            ImageCapture.OutputFileOptions.Builder(file).build(),
            ContextCompat.getMainExecutor(this),
            object : ImageCapture.OnImageSavedCallback {
                override fun onImageSaved(output: ImageCapture.OutputFileResults) = search(Uri.fromFile(file))

                override fun onError(e: ImageCaptureException) {
                    status.text = getString(R.string.error, e.message)
                }
            },
        )
    }

    private fun search(uri: Uri) {
        val engine = engine ?: return
        status.setText(R.string.searching)
        lifecycleScope.launch {
            try {
                val start = SystemClock.elapsedRealtime()
                val (photo, hits) = withContext(Dispatchers.Default) {
                    val photo = Photos.load(contentResolver, uri, engine.metadata.preprocess())
                    photo to engine.search(photo)
                }
                val took = getString(R.string.took, SystemClock.elapsedRealtime() - start)
                status.text = if (hits.isEmpty()) getString(R.string.no_match, SearchEngine.MIN_SCORE) + " · " + took else took
                show(photo, hits, engine)
            } catch (e: Exception) {
                status.text = getString(R.string.error, e.message)
            }
        }
    }

    private fun show(photo: Photo, hits: List<SearchResult>, engine: SearchEngine) {
        results.removeAllViews()
        results.addView(ImageView(this).apply {
            setImageBitmap(photo.thumbnail)
            adjustViewBounds = true
            maxHeight = resources.displayMetrics.heightPixels / 5
        })
        for (hit in hits) {
            val row = layoutInflater.inflate(R.layout.item_result, results, false)
            row.findViewById<TextView>(R.id.product).text = hit.productId()
            row.findViewById<TextView>(R.id.score).text = String.format(Locale.ROOT, "%.3f", hit.score())
            engine.thumbnail(hit.productId())?.let { row.findViewById<ImageView>(R.id.thumbnail).setImageBitmap(it) }
            results.addView(row)
        }
    }
}
