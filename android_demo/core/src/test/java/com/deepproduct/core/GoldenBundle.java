package com.deepproduct.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * The golden bundle written by {@code export.golden.write_golden}, found through the
 * {@code golden.dir} system property ({@code run_tests.sh} sets it).
 */
final class GoldenBundle {
    static final String FORMAT = "deepproduct-golden/1";
    private static GoldenBundle instance;

    final Path dir;
    final JsonObject manifest;

    private GoldenBundle(Path dir) throws IOException {
        this.dir = dir;
        this.manifest = JsonParser.parseString(
                Files.readString(dir.resolve("manifest.json"), StandardCharsets.UTF_8)).getAsJsonObject();
        if (!FORMAT.equals(manifest.get("format").getAsString())) {
            throw new IllegalStateException(dir + ": not a " + FORMAT + " bundle");
        }
    }

    /** The bundle; fails the test with a clear message if {@code -Dgolden.dir} is missing. */
    static synchronized GoldenBundle get() {
        if (instance == null) {
            String dir = System.getProperty("golden.dir");
            if (dir == null || dir.isEmpty()) {
                throw new IllegalStateException("no golden bundle: run with -Dgolden.dir=DIR "
                        + "(android_demo/core/run_tests.sh DIR; write DIR with 'deepproduct golden')");
            }
            try {
                instance = new GoldenBundle(Paths.get(dir));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return instance;
    }

    Path path(String rel) {
        return dir.resolve(rel);
    }

    byte[] bytes(String rel) {
        try {
            return Files.readAllBytes(path(rel));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    String text(String rel) {
        return new String(bytes(rel), StandardCharsets.UTF_8);
    }

    int[] ints(String rel) {
        ByteBuffer b = ByteBuffer.wrap(bytes(rel)).order(ByteOrder.LITTLE_ENDIAN);
        int[] out = new int[b.remaining() / 4];
        b.asIntBuffer().get(out);
        return out;
    }

    float[] floats(String rel) {
        ByteBuffer b = ByteBuffer.wrap(bytes(rel)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    /** Row {@code row} of a float32 matrix file with {@code cols} columns. */
    float[] floatRow(String rel, int row, int cols) {
        float[] all = floats(rel);
        float[] out = new float[cols];
        System.arraycopy(all, row * cols, out, 0, cols);
        return out;
    }

    JsonObject model() {
        return manifest.getAsJsonObject("model");
    }

    JsonObject metadata() {
        return model().getAsJsonObject("metadata");
    }

    List<JsonObject> objects(JsonArray array) {
        List<JsonObject> out = new ArrayList<>();
        for (JsonElement e : array) {
            out.add(e.getAsJsonObject());
        }
        return out;
    }

    List<JsonObject> inputs() {
        return objects(manifest.getAsJsonArray("inputs"));
    }

    JsonObject index() {
        return manifest.getAsJsonObject("index");
    }

    int dimension() {
        return index().get("dimension").getAsInt();
    }
}
