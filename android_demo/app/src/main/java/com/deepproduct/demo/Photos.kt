package com.deepproduct.demo

import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.net.Uri
import androidx.exifinterface.media.ExifInterface
import com.deepproduct.core.ExifOrientation
import com.deepproduct.core.PreprocessConfig
import com.deepproduct.core.ResizePlan
import java.io.IOException

/** A decoded, oriented photo: the ARGB pixels the core preprocesses, and a thumbnail. */
class Photo(val pixels: ExifOrientation.Pixels, val thumbnail: Bitmap)

object Photos {
    /**
     * Decodes [uri] as `Bitmap.getPixels` ARGB and applies its EXIF orientation with the core
     * (BitmapFactory ignores EXIF).
     *
     * Reduced-scale decoding (PREPROCESSING.md section 1, the same rule as the Python runtime's
     * `draft_scale`): `inSampleSize` is [ResizePlan.decodeScale], the largest of 8, 4, 2 that
     * keeps the short side >= the resized short side S, else 1. For JPEG, libjpeg-turbo then
     * scales in the DCT domain and skips most of the decoding work (a 12 MP photo decodes at
     * 504 x 378 for S = 256, instead of ~100 MB of full-size pixels).
     */
    fun load(resolver: ContentResolver, uri: Uri, config: PreprocessConfig): Photo {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        resolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, bounds) }
        if (bounds.outWidth < 1 || bounds.outHeight < 1) throw IOException("$uri: not an image or unsupported format")
        val sample = ResizePlan.decodeScale(bounds.outWidth, bounds.outHeight, config)
        val options = BitmapFactory.Options().apply {
            inSampleSize = sample
            inPreferredConfig = Bitmap.Config.ARGB_8888
        }
        val bitmap = resolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw IOException("$uri: not an image or unsupported format")
        val orientation = resolver.openInputStream(uri).use { stream ->
            stream?.let { ExifInterface(it).getAttributeInt(ExifInterface.TAG_ORIENTATION, 1) } ?: 1
        }
        val stored = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(stored, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val pixels = ExifOrientation.apply(stored, bitmap.width, bitmap.height, orientation)
        bitmap.recycle()
        val oriented = Bitmap.createBitmap(pixels.argb, pixels.width, pixels.height, Bitmap.Config.ARGB_8888)
        val scale = 256f / maxOf(pixels.width, pixels.height)
        val thumbnail = if (scale >= 1f) oriented else Bitmap.createScaledBitmap(
            oriented, (pixels.width * scale).toInt().coerceAtLeast(1), (pixels.height * scale).toInt().coerceAtLeast(1), true,
        )
        return Photo(pixels, thumbnail)
    }
}
