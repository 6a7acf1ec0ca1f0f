package com.deepproduct.demo

import com.deepproduct.core.Embedder
import com.deepproduct.core.ModelMetadata
import java.io.Closeable
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter

/** The core's [Embedder] on LiteRT's Interpreter: one NHWC float32 input, one (1, D) output. */
class LiteRtEmbedder(
    model: File,
    metadata: ModelMetadata,
    threads: Int = 4,
    xnnpack: Boolean = true,
    delegate: Delegate? = null,
) : Embedder, Closeable {
    private val interpreter: Interpreter
    private val input: ByteBuffer
    private val output: Array<FloatArray>

    init {
        val options = Interpreter.Options().setNumThreads(threads).setUseXNNPACK(xnnpack)
        delegate?.let { options.addDelegate(it) }
        interpreter = Interpreter(model, options)
        val n = metadata.preprocess().inputSize()
        val d = metadata.embeddingDim()
        val inShape = interpreter.getInputTensor(0).shape().toList()
        val outShape = interpreter.getOutputTensor(0).shape().toList()
        require(inShape == listOf(1, n, n, 3) && outShape == listOf(1, d)) {
            "$model: tensors $inShape -> $outShape do not match its metadata (1, $n, $n, 3) -> (1, $d)"
        }
        input = ByteBuffer.allocateDirect(4 * n * n * 3).order(ByteOrder.nativeOrder())
        output = arrayOf(FloatArray(d))
    }

    override fun embed(input: FloatArray): FloatArray {
        this.input.rewind()
        this.input.asFloatBuffer().put(input)
        interpreter.run(this.input, output)
        return output[0].copyOf()
    }

    override fun close() = interpreter.close()
}
