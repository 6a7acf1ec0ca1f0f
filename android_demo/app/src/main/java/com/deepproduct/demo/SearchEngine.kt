package com.deepproduct.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import com.deepproduct.core.ModelMetadata
import com.deepproduct.core.ModelMetadataReader
import com.deepproduct.core.ProductIndex
import com.deepproduct.core.ProductSearch
import java.io.Closeable
import java.io.File

/** The bundled model and catalog, wired into the core's [ProductSearch]. */
class SearchEngine private constructor(
    private val context: Context,
    val metadata: ModelMetadata,
    private val embedder: LiteRtEmbedder,
    val search: ProductSearch,
) : Closeable {

    companion object {
        const val MODEL_ASSET = "model.tflite"
        const val INDEX_ASSET = "catalog.dpi"
        const val TOP_K = 5

        /** Below this cosine the best product is reported as "no match"; tune it on your catalog. */
        const val MIN_SCORE = 0.5

        /** Loads the model (metadata, interpreter) and the index; refuses an index of another model. */
        fun load(context: Context): SearchEngine {
            val model = modelFile(context)
            val metadata = ModelMetadataReader.read(model)
            val embedder = LiteRtEmbedder(model, metadata)
            val index = context.assets.open(INDEX_ASSET).use {
                ProductIndex.read(it, INDEX_ASSET, metadata.modelFingerprint())
            }
            return SearchEngine(context, metadata, embedder, ProductSearch(metadata, embedder, index))
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

    /** Top products for a photo (empty: no match), best first. */
    fun search(photo: Photo) = search.search(
        photo.pixels.argb, photo.pixels.width, photo.pixels.height, TOP_K, MIN_SCORE,
    )

    /** The optional catalog picture of a product: assets/thumbnails/<id>.{jpg,png,webp}. */
    fun thumbnail(productId: String): Bitmap? {
        val names = context.assets.list("thumbnails") ?: return null
        val name = names.firstOrNull { it.substringBeforeLast('.') == productId } ?: return null
        return context.assets.open("thumbnails/$name").use { BitmapFactory.decodeStream(it) }
    }

    override fun close() = embedder.close()
}
