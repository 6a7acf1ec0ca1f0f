package com.deepproduct.core;

/**
 * Runs the model: one preprocessed input tensor in, one embedding out.
 *
 * <p>The Android app implements it with LiteRT's {@code Interpreter}; tests use a fake. The core
 * never depends on the runtime, so everything around the model stays testable on a plain JVM.
 */
public interface Embedder {
    /**
     * Embeds one model input.
     *
     * @param input float32 NHWC tensor without the batch axis, {@code N * N * 3} values, as
     *     {@link Preprocessor#preprocess} returns it
     * @return the raw model output, {@code embedding_dim} values (not necessarily unit length)
     */
    float[] embed(float[] input);
}
