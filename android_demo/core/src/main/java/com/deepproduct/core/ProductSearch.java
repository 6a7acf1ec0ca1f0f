package com.deepproduct.core;

import java.util.List;

/**
 * The whole on-device path: oriented photo pixels -> model input -> embedding -> products.
 *
 * <p>It checks once, when built, that the index belongs to the model (same fingerprint, same
 * dimension), so a mismatched pair fails at start-up rather than returning nonsense.
 */
public final class ProductSearch {
    private final ModelMetadata metadata;
    private final Embedder embedder;
    private final ProductIndex index;
    private final Preprocessor preprocessor;

    /**
     * @param metadata the model's metadata ({@link ModelMetadataReader})
     * @param embedder runs the model (LiteRT in the app)
     * @param index the product index, built with this model
     * @throws FingerprintMismatchException the index was built with another model
     * @throws IndexFormatException the index dimension differs from the model's embedding size
     */
    public ProductSearch(ModelMetadata metadata, Embedder embedder, ProductIndex index) {
        String expected = metadata.modelFingerprint();
        if (!expected.equals(index.fingerprint())) {
            int hex = "sha256:".length();
            throw new FingerprintMismatchException(index.source() + ": index was built with model "
                    + index.fingerprint().substring(hex, hex + 16) + "..., but the queries come from model "
                    + expected.substring(hex, hex + 16) + "...; rebuild the index with this model");
        }
        if (index.dimension() != metadata.embeddingDim()) {
            throw new IndexFormatException(index.source() + ": index dimension " + index.dimension()
                    + " differs from the model's embedding_dim " + metadata.embeddingDim()
                    + "; rebuild the index with this model");
        }
        this.metadata = metadata;
        this.embedder = embedder;
        this.index = index;
        this.preprocessor = new Preprocessor(metadata.preprocess());
    }

    public ModelMetadata metadata() {
        return metadata;
    }

    public ProductIndex index() {
        return index;
    }

    public Preprocessor preprocessor() {
        return preprocessor;
    }

    /**
     * Embeds a photo: preprocess, run the model, L2-normalise (unless the model already does).
     *
     * @param argb oriented ARGB pixels, row-major, stride = width (see {@link ExifOrientation})
     * @return the embedding, {@code embedding_dim} values
     * @throws IllegalStateException the embedder returned a vector of the wrong length, or one
     *     that is not finite or all zeros
     */
    public float[] embed(int[] argb, int width, int height) {
        float[] raw = embedder.embed(preprocessor.preprocess(argb, width, height));
        if (raw == null || raw.length != metadata.embeddingDim()) {
            throw new IllegalStateException("embedder returned " + (raw == null ? "null" : raw.length + " values")
                    + ", the model metadata says " + metadata.embeddingDim());
        }
        return metadata.l2NormalizedOutput() ? raw : l2Normalize(raw);
    }

    /**
     * Up to {@code k} products for a photo, best first; an empty list means "no match".
     *
     * @param minScore results scoring below this cosine are dropped (the "no match" threshold)
     */
    public List<SearchResult> search(int[] argb, int width, int height, int k, double minScore) {
        return index.search(embed(argb, width, height), k, minScore);
    }

    /**
     * {@code v / |v|}: the norm from a double sum of squares in index order, each component
     * divided in double and rounded to float. numpy's float32 norm (the Python runtime) may
     * differ in the last bit; search results do not depend on it beyond float rounding.
     *
     * @throws IllegalStateException the vector is all zeros or not finite
     */
    public static float[] l2Normalize(float[] v) {
        double sq = 0.0;
        for (float x : v) {
            sq += (double) x * x;
        }
        double norm = Math.sqrt(sq);
        if (!(norm > 0.0) || Double.isInfinite(norm)) {
            throw new IllegalStateException("cannot normalise an embedding with norm " + norm);
        }
        float[] out = new float[v.length];
        for (int j = 0; j < v.length; j++) {
            out[j] = (float) (v[j] / norm);
        }
        return out;
    }
}
