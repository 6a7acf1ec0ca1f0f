package com.deepproduct.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/** Model metadata: read from the .tflite's zip, equal to Python's; bad documents refused. */
class ModelMetadataTest {
    @Test
    void readFromTheModelFile() throws Exception {
        GoldenBundle g = GoldenBundle.get();
        File model = g.path(g.model().get("file").getAsString()).toFile();
        assertEquals(g.text(g.model().get("metadata_file").getAsString()), ModelMetadataReader.readText(model));
        ModelMetadata m = ModelMetadataReader.read(model);
        JsonObject expected = g.metadata();
        assertEquals(expected.get("embedding_dim").getAsInt(), m.embeddingDim());
        assertEquals(expected.get("l2_normalized_output").getAsBoolean(), m.l2NormalizedOutput());
        assertEquals(expected.get("model_fingerprint").getAsString(), m.modelFingerprint());
        assertEquals(expected.get("name").getAsString(), m.name());
        assertEquals(expected.get("version").getAsString(), m.version());
        assertEquals(expected.get("precision").getAsString(), m.precision());
        JsonObject pre = expected.getAsJsonObject("preprocess");
        PreprocessConfig c = m.preprocess();
        assertEquals(pre.get("input_size").getAsInt(), c.inputSize());
        assertEquals(pre.get("crop_fraction").getAsDouble(), c.cropFraction());
        assertArrayEquals(doubles(pre.getAsJsonArray("mean")), c.mean());
        assertArrayEquals(doubles(pre.getAsJsonArray("std")), c.std());
        assertEquals(pre.get("resize").getAsString(), c.resize());
        assertEquals(g.model().get("resized_short_side").getAsInt(), c.resizedShortSide());
    }

    @Test
    void sameResultFromTheJsonString() throws Exception {
        GoldenBundle g = GoldenBundle.get();
        ModelMetadata fromZip = ModelMetadataReader.read(g.path("model.tflite").toFile());
        ModelMetadata fromJson = ModelMetadataReader.fromJson(g.text("metadata.json"));
        assertEquals(fromZip.toString(), fromJson.toString());
        assertEquals(fromZip.preprocess(), fromJson.preprocess());
    }

    @Test
    void filesWithoutMetadataAreRefused(@TempDir Path tmp) throws Exception {
        Path notZip = tmp.resolve("plain.tflite");
        Files.write(notZip, new byte[] {1, 2, 3, 4});
        ModelMetadataException e = assertThrows(ModelMetadataException.class,
                () -> ModelMetadataReader.read(notZip.toFile()));
        assertTrue(e.getMessage().contains("no DeepProduct metadata"), e.getMessage());
        assertThrows(ModelMetadataException.class,
                () -> ModelMetadataReader.read(tmp.resolve("missing.tflite").toFile()));
    }

    @Test
    void invalidJsonIsRefused() {
        assertThrows(ModelMetadataException.class, () -> ModelMetadata.fromJson("{"));
        assertThrows(ModelMetadataException.class, () -> ModelMetadata.fromJson("[]"));
        assertThrows(ModelMetadataException.class, () -> ModelMetadata.fromJson("{} trailing"));
    }

    @TestFactory
    List<DynamicTest> badDocumentsAreRefusedLikePython() {
        GoldenBundle g = GoldenBundle.get();
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonObject c : g.objects(g.model().getAsJsonArray("bad_metadata"))) {
            String file = c.get("file").getAsString();
            tests.add(dynamicTest(file, () -> {
                ModelMetadataException e = assertThrows(ModelMetadataException.class,
                        () -> ModelMetadata.fromJson(g.text(file)), "Python refuses it: " + c.get("python_error"));
                String field = c.get("field").getAsString();
                assertTrue(e.getMessage().contains(field),
                        "message should name " + field + ": " + e.getMessage());
            }));
        }
        return tests;
    }

    private static double[] doubles(JsonArray a) {
        double[] out = new double[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsDouble();
        }
        return out;
    }
}
