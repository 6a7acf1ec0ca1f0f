package com.deepproduct.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** The product index: INDEX_FORMAT.md's worked examples, then the golden indexes and searches. */
class ProductIndexTest {
    private static final String EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    // ------------------------------------------------------------------- the specification

    static final String INT8_EXAMPLE = "44 50 49 58 01 00 01 00 02 00 00 00 02 00 00 00"
            + " e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 6f b9 24"
            + " 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55"
            + " 01 00 02 00 61 c3 a9 00 7f d6 40 7f 96 f4 07 5f";
    static final String FLOAT32_EXAMPLE = "44 50 49 58 01 00 00 00 02 00 00 00 02 00 00 00"
            + " e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 6f b9 24"
            + " 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55"
            + " 01 00 02 00 61 c3 a9 00 00 00 80 3f 00 00 00 00"
            + " 9a 99 19 3f cd cc 4c 3f 45 c3 5c 3e";

    @Test
    void crcOfTheCheckString() {
        CRC32 crc = new CRC32();
        crc.update("123456789".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        assertEquals(0xCBF43926L, crc.getValue());
    }

    @Test
    void int8WorkedExample() {
        assertArrayEquals(new byte[] {127, -42}, ProductIndex.quantizeInt8(new float[] {3.0f, -1.0f}));
        assertArrayEquals(new byte[] {64, 127}, ProductIndex.quantizeInt8(new float[] {0.25f, 0.5f}));
        ProductIndex index = ProductIndex.read(hex(INT8_EXAMPLE), "example", "sha256:" + EMPTY_SHA256);
        assertEquals(ProductIndex.Dtype.INT8, index.dtype());
        assertEquals(2, index.dimension());
        assertEquals(2, index.size());
        assertEquals("é", index.rowId(1));
        List<SearchResult> r = index.search(new float[] {1.0f, 0.0f}, 2);
        assertEquals(List.of(new SearchResult("a", 0.94942822833892), new SearchResult("é", 0.45002403451816314)), r);
        r = index.search(new float[] {0.0f, 1.0f}, 2);
        assertEquals(List.of(new SearchResult("é", 0.89301644349698), new SearchResult("a", -0.31398413850578455)), r);
        assertArrayEquals(new byte[] {127, -42}, index.codes(0));
    }

    @Test
    void float32WorkedExample() {
        ProductIndex index = ProductIndex.read(hex(FLOAT32_EXAMPLE), "example", EMPTY_SHA256);
        assertEquals(ProductIndex.Dtype.FLOAT32, index.dtype());
        List<SearchResult> r = index.search(new float[] {1.0f, 0.0f}, 2);
        assertEquals(List.of(new SearchResult("a", 1.0), new SearchResult("é", 0.6000000238418579)), r);
        assertEquals(1, index.search(new float[] {1.0f, 0.0f}, 2, 0.7).size());
    }

    @Test
    void roundingIsHalfToEven() {
        // 62.5 -> 62, 63.5 -> 64 (Math.round would give 63 and 64).
        assertArrayEquals(new byte[] {62, 127}, ProductIndex.quantizeInt8(new float[] {62.5f, 127f}));
        assertArrayEquals(new byte[] {64, -127}, ProductIndex.quantizeInt8(new float[] {63.5f, -127f}));
    }

    @Test
    void dequantizedRowsAreUnitLength() {
        float[] v = ProductIndex.dequantizeInt8(new byte[] {127, -42});
        assertEquals(1.0, Math.hypot(v[0], v[1]), 1e-6);
        assertEquals(127 / Math.sqrt(17893), v[0], 1e-7);
    }

    @Test
    void badArgumentsAreRefused() {
        ProductIndex index = ProductIndex.read(hex(INT8_EXAMPLE), "example", null);
        assertThrows(IllegalArgumentException.class, () -> index.search(new float[] {1f, 0f}, 0));
        assertThrows(IllegalArgumentException.class, () -> index.search(new float[] {0f, 0f}, 1));
        assertThrows(IllegalArgumentException.class, () -> index.search(new float[] {1f}, 1));
        assertThrows(IllegalArgumentException.class, () -> index.search(new float[] {Float.NaN, 1f}, 1));
        assertThrows(IndexFormatException.class, () -> ProductIndex.read(hex(INT8_EXAMPLE), "x", "abc"));
        assertThrows(FingerprintMismatchException.class,
                () -> ProductIndex.read(hex(INT8_EXAMPLE), "x", "ab".repeat(32)));
    }

    // --------------------------------------------------------------------------- golden files

    @TestFactory
    List<DynamicTest> goldenIndexesParse() {
        GoldenBundle g = GoldenBundle.get();
        List<DynamicTest> tests = new ArrayList<>();
        for (String dtype : new String[] {"float32", "int8"}) {
            tests.add(dynamicTest(dtype, () -> {
                JsonObject file = g.index().getAsJsonObject("files").getAsJsonObject(dtype);
                ProductIndex index = load(g, dtype);
                assertEquals(dtype.equals("int8") ? ProductIndex.Dtype.INT8 : ProductIndex.Dtype.FLOAT32, index.dtype());
                assertEquals(file.get("rows").getAsInt(), index.size());
                assertEquals(file.get("products").getAsInt(), index.productIds().size());
                assertEquals(g.dimension(), index.dimension());
                assertEquals(g.index().get("fingerprint").getAsString(), index.fingerprint());
                List<JsonElement> ids = g.index().getAsJsonArray("row_ids").asList();
                float[] rows = g.floats(file.get("vectors").getAsString());
                int d = index.dimension();
                for (int r = 0; r < index.size(); r++) {
                    assertEquals(ids.get(r).getAsString(), index.rowId(r), "row " + r + " id");
                    for (int j = 0; j < d; j++) {
                        float stored = dtype.equals("int8") ? index.codes(r)[j] : index.row(r)[j];
                        assertEquals(Float.floatToIntBits(rows[r * d + j]), Float.floatToIntBits(stored),
                                "row " + r + " component " + j);
                    }
                }
            }));
        }
        return tests;
    }

    @TestFactory
    List<DynamicTest> goldenSearches() {
        GoldenBundle g = GoldenBundle.get();
        Map<String, ProductIndex> indexes = new HashMap<>();
        indexes.put("float32", load(g, "float32"));
        indexes.put("int8", load(g, "int8"));
        int d = g.dimension();
        String queries = g.index().get("queries").getAsString();
        List<JsonElement> names = g.index().getAsJsonArray("query_names").asList();
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonObject s : g.objects(g.index().getAsJsonArray("searches"))) {
            int qi = s.get("query").getAsInt();
            String dtype = s.get("dtype").getAsString();
            int k = s.get("k").getAsInt();
            double minScore = s.get("min_score").isJsonNull() ? Double.NEGATIVE_INFINITY
                    : s.get("min_score").getAsDouble();
            String label = String.format("%s k=%d%s %s: %s", dtype, k,
                    s.get("min_score").isJsonNull() ? "" : " min_score=" + minScore, "query " + qi,
                    names.get(qi).getAsString());
            tests.add(dynamicTest(label, () -> {
                ProductIndex index = indexes.get(dtype);
                float[] q = g.floatRow(queries, qi, d);
                List<SearchResult> actual = index.search(q, k, minScore);
                List<SearchResult> expected = results(s.getAsJsonArray("expected").asList());
                if (dtype.equals("int8")) {
                    assertEquals(expected, actual, "int8 results must be identical, scores to the bit");
                    if (s.has("row_scores")) {
                        double[] scores = index.scores(q);
                        List<JsonElement> py = s.getAsJsonArray("row_scores").asList();
                        for (int r = 0; r < scores.length; r++) {
                            assertEquals(Double.doubleToLongBits(py.get(r).getAsDouble()),
                                    Double.doubleToLongBits(scores[r]), "row " + r + " score bits");
                        }
                    }
                } else {
                    assertFloat32Ranking(index, q, expected, actual);
                }
            }));
        }
        return tests;
    }

    @TestFactory
    List<DynamicTest> damagedIndexesAreRefused() {
        GoldenBundle g = GoldenBundle.get();
        ModelMetadata metadata = ModelMetadata.fromJson(g.text("metadata.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonObject c : g.objects(g.manifest.getAsJsonArray("bad_files"))) {
            String file = c.get("file").getAsString();
            tests.add(dynamicTest(file + " (" + c.get("problem").getAsString() + ")", () -> {
                String exception = c.get("java_exception").getAsString();
                String fingerprint = c.get("load_with_fingerprint").getAsString();
                IndexFormatException e;
                if (c.get("stage").getAsString().equals("load")) {
                    e = assertThrows(IndexFormatException.class,
                            () -> ProductIndex.load(g.path(file).toFile(), fingerprint),
                            "Python: " + c.get("python_error").getAsString());
                } else {
                    // "product_search": both runtimes refuse the pair when ProductSearch is built,
                    // with the same message
                    ProductIndex index = ProductIndex.load(g.path(file).toFile(), fingerprint);
                    e = assertThrows(IndexFormatException.class,
                            () -> new ProductSearch(metadata, input -> new float[0], index));
                    assertEquals("product_search", c.get("stage").getAsString());
                    assertEquals(g.path(file) + c.get("python_error").getAsString().substring(file.length()),
                            e.getMessage());
                }
                assertEquals(exception, e.getClass().getSimpleName(), e.getMessage());
                String contains = c.get("message_contains").getAsString();
                assertTrue(e.getMessage().contains(contains), "message should contain '" + contains + "': "
                        + e.getMessage());
                assertTrue(e.getMessage().startsWith(g.path(file).toString()), "message names the file: "
                        + e.getMessage());
            }));
        }
        return tests;
    }

    // -------------------------------------------------------------------------------- helpers

    static ProductIndex load(GoldenBundle g, String dtype) {
        String file = g.index().getAsJsonObject("files").getAsJsonObject(dtype).get("file").getAsString();
        return ProductIndex.load(g.path(file).toFile(), g.index().get("fingerprint").getAsString());
    }

    static List<SearchResult> results(List<JsonElement> expected) {
        List<SearchResult> out = new ArrayList<>();
        for (JsonElement e : expected) {
            JsonObject o = e.getAsJsonObject();
            out.add(new SearchResult(o.get("id").getAsString(), o.get("score").getAsDouble()));
        }
        return out;
    }

    /**
     * float32: scores within {@code D * 2^-23} (twice the worst-case float32 summation error of a
     * dot product of unit vectors: Python's BLAS and this loop sum in different orders), and the
     * same ranking, except that two products whose scores this implementation finds within that
     * tolerance of each other may swap (INDEX_FORMAT.md: a near-tie, e.g. two identical rows
     * that BLAS rounds differently).
     */
    static void assertFloat32Ranking(ProductIndex index, float[] q, List<SearchResult> expected,
            List<SearchResult> actual) {
        double tol = index.dimension() * Math.pow(2, -23);
        assertEquals(expected.size(), actual.size(), "number of results: " + actual + " vs Python " + expected);
        Map<String, Double> mine = new HashMap<>();
        double[] scores = index.scores(q);
        for (int r = 0; r < scores.length; r++) {
            mine.merge(index.rowId(r), scores[r], Math::max);
        }
        for (int i = 0; i < expected.size(); i++) {
            SearchResult e = expected.get(i);
            SearchResult a = actual.get(i);
            if (Math.abs(e.score() - a.score()) > tol) {
                fail("rank " + i + ": score " + a.score() + " vs Python " + e.score() + " (tolerance " + tol + ")");
            }
            if (!e.productId().equals(a.productId())) {
                double gap = Math.abs(mine.get(e.productId()) - mine.get(a.productId()));
                if (gap > tol) {
                    fail("rank " + i + ": " + a.productId() + " vs Python " + e.productId() + ", scores "
                            + gap + " apart: not a near-tie");
                }
            }
        }
    }

    static byte[] hex(String text) {
        String[] parts = text.trim().split("\\s+");
        byte[] out = new byte[parts.length];
        for (int i = 0; i < parts.length; i++) {
            out[i] = (byte) Integer.parseInt(parts[i], 16);
        }
        return out;
    }
}
