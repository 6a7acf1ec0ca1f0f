package com.deepproduct.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * End to end: ARGB pixels -> preprocess -> (fake) model -> L2 -> search, against Python.
 *
 * <p>The fake embedder returns the golden raw model output for the golden input tensor it is
 * given, so it also checks that {@link ProductSearch} hands the model exactly Python's tensor.
 */
class ProductSearchTest {
    /** Finds the input tensor among the golden tensors (bit for bit) and returns its raw output. */
    static final class GoldenEmbedder implements Embedder {
        private final List<float[]> tensors = new ArrayList<>();
        private final List<float[]> outputs = new ArrayList<>();

        GoldenEmbedder(GoldenBundle g) {
            List<JsonElement> order = g.manifest.getAsJsonObject("embeddings").getAsJsonArray("order").asList();
            String raw = g.manifest.getAsJsonObject("embeddings").get("raw").getAsString();
            for (JsonObject in : g.inputs()) {
                tensors.add(g.floats(in.get("tensor").getAsString()));
                outputs.add(g.floatRow(raw, order.indexOf(in.get("name")), g.dimension()));
            }
        }

        @Override
        public float[] embed(float[] input) {
            for (int i = 0; i < tensors.size(); i++) {
                if (Arrays.equals(tensors.get(i), input)) { // compares floatToIntBits
                    return outputs.get(i).clone();
                }
            }
            throw new AssertionError("the model was given a tensor that is not one of Python's");
        }
    }

    @TestFactory
    List<DynamicTest> photoToProductsMatchesPython() {
        GoldenBundle g = GoldenBundle.get();
        ModelMetadata metadata = ModelMetadata.fromJson(g.text("metadata.json"));
        GoldenEmbedder embedder = new GoldenEmbedder(g);
        Map<String, ProductSearch> searches = new HashMap<>();
        for (String dtype : new String[] {"float32", "int8"}) {
            searches.put(dtype, new ProductSearch(metadata, embedder, ProductIndexTest.load(g, dtype)));
        }
        Map<String, JsonObject> inputs = new HashMap<>();
        for (JsonObject in : g.inputs()) {
            inputs.put(in.get("name").getAsString(), in);
        }
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonObject c : g.objects(g.index().getAsJsonArray("end_to_end"))) {
            String dtype = c.get("dtype").getAsString();
            JsonObject in = inputs.get(c.get("input").getAsString());
            List<SearchResult> expected = ProductIndexTest.results(c.getAsJsonArray("expected").asList());
            String label = dtype + " " + in.get("name").getAsString() + (expected.isEmpty() ? " (no match)" : "");
            tests.add(dynamicTest(label, () -> {
                ProductSearch search = searches.get(dtype);
                int[] argb = g.ints(in.get("argb").getAsString());
                int w = in.get("width").getAsInt();
                int h = in.get("height").getAsInt();
                List<SearchResult> actual = search.search(argb, w, h, c.get("k").getAsInt(),
                        c.get("min_score").getAsDouble());
                // Python normalised the embedding in float32 numpy, this core in double: the
                // query may differ in its last bit, so scores agree within float rounding.
                ProductIndexTest.assertFloat32Ranking(search.index(), search.embed(argb, w, h), expected, actual);
            }));
        }
        return tests;
    }

    @Test
    void normalisedEmbeddingsMatchPythonWithinRounding() {
        GoldenBundle g = GoldenBundle.get();
        JsonObject e = g.manifest.getAsJsonObject("embeddings");
        int d = g.dimension();
        float[] raw = g.floats(e.get("raw").getAsString());
        float[] normalized = g.floats(e.get("normalized").getAsString());
        for (int i = 0; i < raw.length / d; i++) {
            float[] mine = ProductSearch.l2Normalize(Arrays.copyOfRange(raw, i * d, (i + 1) * d));
            for (int j = 0; j < d; j++) {
                float py = normalized[i * d + j];
                assertTrue(Math.abs(mine[j] - py) <= 2 * Math.ulp(py), "input " + i + " component " + j
                        + ": " + mine[j] + " vs Python " + py);
            }
        }
    }

    @Test
    void aMismatchedIndexIsRefusedAtStart() {
        GoldenBundle g = GoldenBundle.get();
        ModelMetadata metadata = ModelMetadata.fromJson(g.text("metadata.json"));
        for (JsonObject c : g.objects(g.manifest.getAsJsonArray("bad_files"))) {
            if (c.get("java_exception").getAsString().equals("FingerprintMismatchException")) {
                ProductIndex other = ProductIndex.load(g.path(c.get("file").getAsString()).toFile(), null);
                assertThrows(FingerprintMismatchException.class,
                        () -> new ProductSearch(metadata, input -> new float[0], other));
            }
        }
    }

    @Test
    void aWrongEmbeddingSizeIsReported() {
        GoldenBundle g = GoldenBundle.get();
        ModelMetadata metadata = ModelMetadata.fromJson(g.text("metadata.json"));
        ProductSearch search = new ProductSearch(metadata, input -> new float[3], ProductIndexTest.load(g, "int8"));
        JsonObject in = g.inputs().get(0);
        assertThrows(IllegalStateException.class, () -> search.search(g.ints(in.get("argb").getAsString()),
                in.get("width").getAsInt(), in.get("height").getAsInt(), 5, 0.0));
    }
}
