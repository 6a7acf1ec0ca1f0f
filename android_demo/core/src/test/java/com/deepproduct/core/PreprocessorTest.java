package com.deepproduct.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** Preprocessing: the worked examples of PREPROCESSING.md, then the golden tensors, bit for bit. */
class PreprocessorTest {
    private static final PreprocessConfig DEFAULT =
            new PreprocessConfig(224, 0.875, new double[] {127, 127, 127}, new double[] {128, 128, 128},
                    "triangle-fixed14");

    // ------------------------------------------------------------------- the specification

    @Test
    void downscaleWorkedExample() {
        ResizeWeights w = ResizeWeights.compute(4, 2);
        assertEquals(0, w.first(0));
        assertArrayEquals(new int[] {7021, 7022, 2341, 0}, w.weights(0));
        assertEquals(1, w.first(1));
        assertArrayEquals(new int[] {2341, 7021, 7022}, w.weights(1));
        int[] row = {10, 20, 30, 40};
        assertArrayEquals(new int[] {17, 33}, resizeRow(row, w));
    }

    @Test
    void decodeScaleFollowsTheSpecTable() {
        // PREPROCESSING.md section 1, "Reduced-scale decoding" (N = 224, S = 256)
        assertEquals(1, ResizePlan.decodeScale(348, 348, DEFAULT));
        assertEquals(1, ResizePlan.decodeScale(511, 4000, DEFAULT));
        assertEquals(2, ResizePlan.decodeScale(512, 600, DEFAULT));
        assertEquals(2, ResizePlan.decodeScale(1280, 960, DEFAULT));
        assertEquals(4, ResizePlan.decodeScale(1920, 1080, DEFAULT));
        assertEquals(8, ResizePlan.decodeScale(4032, 3024, DEFAULT));
        assertEquals(8, ResizePlan.decodeScale(9000, 9000, DEFAULT));
        assertThrows(IllegalArgumentException.class, () -> ResizePlan.decodeScale(0, 5, DEFAULT));
    }

    @Test
    void upscaleWorkedExample() {
        ResizeWeights w = ResizeWeights.compute(2, 4);
        int[][] expected = {{16384, 0}, {12288, 4096}, {4096, 12288}, {0, 16384}};
        for (int i = 0; i < 4; i++) {
            assertEquals(expected[i][0], weightAt(w, i, 0), "output " + i + " tap 0");
            assertEquals(expected[i][1], weightAt(w, i, 1), "output " + i + " tap 1");
        }
        assertArrayEquals(new int[] {10, 18, 33, 40}, resizeRow(new int[] {10, 40}, w));
    }

    @Test
    void weightsSumToOneAndSameSizeIsACopy() {
        for (int[] sizes : new int[][] {{7, 3}, {464, 341}, {1000, 4}, {5, 358}, {256, 1}, {1, 9}}) {
            ResizeWeights w = ResizeWeights.compute(sizes[0], sizes[1]);
            for (int i = 0; i < sizes[1]; i++) {
                int sum = 0;
                for (int q : w.weights(i)) {
                    assertTrue(q >= 0 && q <= ResizeWeights.ONE);
                    sum += q;
                }
                assertEquals(ResizeWeights.ONE, sum, sizes[0] + "->" + sizes[1] + " output " + i);
            }
        }
        ResizeWeights same = ResizeWeights.compute(6, 6);
        for (int i = 0; i < 6; i++) {
            assertEquals(ResizeWeights.ONE, weightAt(same, i, i));
        }
        assertThrows(IllegalArgumentException.class, () -> ResizeWeights.compute(257, 1));
        assertThrows(IllegalArgumentException.class, () -> ResizeWeights.compute(0, 1));
    }

    @Test
    void geometryWorkedExample() {
        assertEquals(256, DEFAULT.resizedShortSide());
        ResizePlan p = ResizePlan.of(348, 464, DEFAULT);
        assertEquals(256, p.resizedWidth);
        assertEquals(341, p.resizedHeight);
        assertEquals(16, p.left);
        assertEquals(58, p.top);
        ResizePlan square = ResizePlan.of(300, 300, DEFAULT);
        assertEquals(256, square.resizedWidth);
        assertEquals(256, square.resizedHeight);
    }

    @Test
    void normalisationWorkedExample() {
        Preprocessor p = new Preprocessor(DEFAULT);
        float[] y = p.normalize(new byte[] {0, 127, (byte) 255});
        assertEquals(-0.9921875f, y[0]);
        assertEquals(0.0f, y[1]);
        assertEquals(1.0f, y[2]);
    }

    @Test
    void alphaIsCompositedOnWhite() {
        int[] rgb = new int[3];
        Preprocessor.toRgb(0x00123456, rgb); // fully transparent: white
        assertArrayEquals(new int[] {255, 255, 255}, rgb);
        Preprocessor.toRgb(0xFF123456, rgb);
        assertArrayEquals(new int[] {0x12, 0x34, 0x56}, rgb);
        Preprocessor.toRgb(0x80000000, rgb); // (0 * 128 + 255 * 127 + 127) / 255 = 127
        assertArrayEquals(new int[] {127, 127, 127}, rgb);
    }

    @Test
    void configIsValidated() {
        assertThrows(ModelMetadataException.class, () -> PreprocessConfig.fromJson(
                "{\"crop_fraction\":0.875,\"input_size\":224,\"mean\":[1,2,3],\"resize\":\"bilinear\","
                        + "\"std\":[1,1,1]}"));
        assertThrows(ModelMetadataException.class, () -> PreprocessConfig.fromJson(
                "{\"crop_fraction\":0.875,\"input_size\":224,\"mean\":[1,2,3],\"resize\":\"triangle-fixed14\"}"));
        PreprocessConfig c = PreprocessConfig.fromJson("{\"crop_fraction\":0.875,\"input_size\":224,"
                + "\"mean\":[127.0,127.0,127.0],\"resize\":\"triangle-fixed14\",\"std\":[128.0,128.0,128.0]}");
        assertEquals(DEFAULT, c);
    }

    @Test
    void badPixelArraysAreRefused() {
        Preprocessor p = new Preprocessor(DEFAULT);
        assertThrows(IllegalArgumentException.class, () -> p.preprocess(new int[5], 2, 3));
        assertThrows(IllegalArgumentException.class, () -> p.preprocess(new int[6], 2, 3, 1, 0, 2, 3));
    }

    // --------------------------------------------------------------------------- golden files

    @TestFactory
    List<DynamicTest> goldenTensorsAreBitExact() {
        GoldenBundle g = GoldenBundle.get();
        Preprocessor p = new Preprocessor(PreprocessConfig.fromJson(g.metadata().get("preprocess").toString()));
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonObject in : g.inputs()) {
            String name = in.get("name").getAsString();
            tests.add(dynamicTest(name, () -> {
                int w = in.get("width").getAsInt();
                int h = in.get("height").getAsInt();
                int[] argb = g.ints(in.get("argb").getAsString());
                assertEquals(w * h, argb.length, "argb file size");
                JsonObject plan = in.getAsJsonObject("plan");
                ResizePlan mine = p.plan(w, h);
                assertEquals(plan.get("resized_width").getAsInt(), mine.resizedWidth, "resized width");
                assertEquals(plan.get("resized_height").getAsInt(), mine.resizedHeight, "resized height");
                assertEquals(plan.get("left").getAsInt(), mine.left, "left");
                assertEquals(plan.get("top").getAsInt(), mine.top, "top");

                byte[] resized = p.resizeAndCrop(argb, w, h);
                assertBytesEqual(g.bytes(in.get("resized").getAsString()), resized, name + " resized pixels");
                assertFloatBitsEqual(g.floats(in.get("tensor").getAsString()), p.preprocess(argb, w, h),
                        name + " tensor");
            }));
        }
        return tests;
    }

    @Test
    void goldenRegionOfInterest() {
        GoldenBundle g = GoldenBundle.get();
        Preprocessor p = new Preprocessor(PreprocessConfig.fromJson(g.metadata().get("preprocess").toString()));
        JsonObject in = g.inputs().get(0);
        JsonObject roi = in.getAsJsonObject("roi");
        JsonArray box = roi.getAsJsonArray("box");
        float[] mine = p.preprocess(g.ints(in.get("argb").getAsString()), in.get("width").getAsInt(),
                in.get("height").getAsInt(), box.get(0).getAsInt(), box.get(1).getAsInt(), box.get(2).getAsInt(),
                box.get(3).getAsInt());
        assertFloatBitsEqual(g.floats(roi.get("tensor").getAsString()), mine, "roi tensor");
    }

    @Test
    void goldenWeightTables() {
        GoldenBundle g = GoldenBundle.get();
        JsonObject weights = g.inputs().get(0).getAsJsonObject("weights");
        for (String axis : new String[] {"x", "y"}) {
            JsonObject table = JsonParser.parseString(g.text(weights.get(axis).getAsString())).getAsJsonObject();
            int in = table.get("in_size").getAsInt();
            int out = table.get("out_size").getAsInt();
            ResizeWeights mine = ResizeWeights.compute(in, out);
            JsonArray index = table.getAsJsonArray("index");
            JsonArray weight = table.getAsJsonArray("weight");
            assertEquals(out, index.size());
            for (int i = 0; i < out; i++) {
                // Python pads rows and drops all-zero columns: compare the non-zero taps.
                TreeMap<Integer, Integer> python = new TreeMap<>();
                for (int k = 0; k < index.get(i).getAsJsonArray().size(); k++) {
                    int q = weight.get(i).getAsJsonArray().get(k).getAsInt();
                    if (q != 0) {
                        python.put(index.get(i).getAsJsonArray().get(k).getAsInt(), q);
                    }
                }
                TreeMap<Integer, Integer> java = new TreeMap<>();
                int[] q = mine.weights(i);
                for (int t = 0; t < q.length; t++) {
                    if (q[t] != 0) {
                        java.put(mine.first(i) + t, q[t]);
                    }
                }
                assertEquals(python, java, axis + " axis " + in + "->" + out + ", output " + i);
            }
        }
    }

    // -------------------------------------------------------------------------------- helpers

    private static int weightAt(ResizeWeights w, int i, int j) {
        int t = j - w.first(i);
        int[] q = w.weights(i);
        return t >= 0 && t < q.length ? q[t] : 0;
    }

    private static int[] resizeRow(int[] row, ResizeWeights w) {
        int[] out = new int[w.outSize()];
        for (int i = 0; i < out.length; i++) {
            int acc = 8192;
            int[] q = w.weights(i);
            for (int t = 0; t < q.length; t++) {
                acc += q[t] * row[w.first(i) + t];
            }
            out[i] = acc >> 14;
        }
        return out;
    }

    static void assertBytesEqual(byte[] expected, byte[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        int bad = 0;
        int first = -1;
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] != actual[i]) {
                bad++;
                if (first < 0) {
                    first = i;
                }
            }
        }
        if (bad > 0) {
            fail(String.format("%s: %d of %d bytes differ; first at %d (pixel %d, channel %d): Python %d, Java %d",
                    what, bad, expected.length, first, first / 3, first % 3, expected[first] & 0xFF,
                    actual[first] & 0xFF));
        }
    }

    /** Bit-exact: compares {@code Float.floatToIntBits} (so -0.0 != 0.0 and no tolerance). */
    static void assertFloatBitsEqual(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        int bad = 0;
        int first = -1;
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual[i])) {
                bad++;
                if (first < 0) {
                    first = i;
                }
            }
        }
        if (bad > 0) {
            fail(String.format("%s: %d of %d values differ in their bits; first at %d (pixel %d, channel %d): "
                    + "Python %s, Java %s", what, bad, expected.length, first, first / 3, first % 3,
                    expected[first], actual[first]));
        }
    }
}
