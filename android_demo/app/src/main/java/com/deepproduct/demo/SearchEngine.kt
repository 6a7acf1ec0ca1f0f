package com.deepproduct.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import com.deepproduct.core.ModelMetadata
import com.deepproduct.core.ModelMetadataReader
import com.deepproduct.core.Preprocessor
import com.deepproduct.core.ProductIndex
import com.deepproduct.core.ProductSearch
import com.deepproduct.core.RemoteSearch
import com.deepproduct.core.SearchResult
import java.io.Closeable
import java.io.File

/**
 * The bundled model wired to a catalog: the bundled index ([ProductSearch], on the phone) or,
 * when a server URL is set, a `deepproduct serve` service ([RemoteSearch]): the phone embeds the
 * photo either way and sends only the embedding's 256 int8 codes.
 */
class SearchEngine private constructor(
    private val context: Context,
    val metadata: ModelMetadata,
    private val embedder: LiteRtEmbedder,
    /** The on-device search, or null when searching on a server. */
    val local: ProductSearch?,
    /** The server's search, or null when searching on the device. */
    val remote: RemoteSearch?,
) : Closeable {
    private val preprocessor = Preprocessor(metadata.preprocess())

    companion object {
        const val MODEL_ASSET = "model.tflite"
        const val INDEX_ASSET = "catalog.dpi"
        const val TOP_K = 5

        /** Below this cosine the best product is reported as "no match"; tune it on your catalog. */
        const val MIN_SCORE = 0.5

        /** Where the server URL setting is kept (empty: search the bundled index). */
        const val PREFERENCES = "search"
        const val SERVER_URL = "server_url"

        /**
         * Loads the model (metadata, interpreter) and the catalog: the bundled index (refused
         * when it is of another model) or, with a [serverUrl], the service at that URL (which
         * refuses queries of another model with HTTP 409).
         */
        fun load(context: Context, serverUrl: String? = null): SearchEngine {
            val model = modelFile(context)
            val metadata = ModelMetadataReader.read(model)
            if (!serverUrl.isNullOrBlank()) {
                // a malformed URL fails here, before the interpreter is created
                val remote = RemoteSearch(serverUrl, metadata.modelFingerprint(), RemoteSearch.DEFAULT_TIMEOUT_MILLIS)
                return SearchEngine(context, metadata, LiteRtEmbedder(model, metadata), null, remote)
            }
            val embedder = LiteRtEmbedder(model, metadata)
            val index = context.assets.open(INDEX_ASSET).use {
                ProductIndex.read(it, INDEX_ASSET, metadata.modelFingerprint())
            }
            return SearchEngine(context, metadata, embedder, ProductSearch(metadata, embedder, index), null)
        }

        /**
         * The model as a file: the core reads its metadata with ZipFile and LiteRT maps it.
         * Copied out of the APK once per app version (assets are not files).
         */
        fun modelFile(context: Context): File {
            val version = context.packageManager.getPackageInfo(context.packageName, 0).lastUpdateTime
            val file = File(context.filesDir, "model-$version.tflite")
            if (!file.exists()) {
                context.filesDir.listFiles { f -> f.name.startsWith("model-") }?.forEach { it.delete() }
                val tmp = File(context.filesDir, "model.tmp")
                context.assets.open(MODEL_ASSET).use { input -> tmp.outputStream().use { input.copyTo(it) } }
                check(tmp.renameTo(file)) { "cannot write $file" }
            }
            return file
        }
    }

    /** Top products for a photo (empty: no match), best first; the same list from either catalog. */
    fun search(photo: Photo): List<SearchResult> {
        val pixels = photo.pixels
        local?.let { return it.search(pixels.argb, pixels.width, pixels.height, TOP_K, MIN_SCORE) }
        // The int8 codes the server gets are scale-free: no L2 normalisation needed here.
        val embedding = embedder.embed(preprocessor.preprocess(pixels.argb, pixels.width, pixels.height))
        return remote!!.search(embedding, TOP_K, MIN_SCORE)
    }

    /** The optional catalog picture of a product: assets/thumbnails/<id>.{jpg,png,webp}. */
    fun thumbnail(productId: String): Bitmap? {
        val names = context.assets.list("thumbnails") ?: return null
        val name = names.firstOrNull { it.substringBeforeLast('.') == productId } ?: return null
        return context.assets.open("thumbnails/$name").use { BitmapFactory.decodeStream(it) }
    }

    override fun close() = embedder.close()
}
