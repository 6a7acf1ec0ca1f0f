package com.deepproduct.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * This core's constants against the format specs the Python runtime loads
 * ({@code mobile_sdk/formats/*.json}, found through the {@code formats.dir} system property that
 * {@code run_tests.sh} sets): a limit, key or layout changed on one side only fails here.
 */
class FormatSpecTest {
    private static JsonObject spec(String name) throws IOException {
        String dir = System.getProperty("formats.dir");
        assertNotNull(dir, "run with -Dformats.dir=mobile_sdk/formats (run_tests.sh sets it)");
        return JsonParser.parseString(Files.readString(Paths.get(dir, name + ".json"), StandardCharsets.UTF_8))
                .getAsJsonObject();
    }

    private static Set<String> strings(JsonElement array) {
        Set<String> out = new TreeSet<>();
        for (JsonElement e : (JsonArray) array) {
            out.add(e.getAsString());
        }
        return out;
    }

    private static int width(String type) {
        switch (type) {
            case "u8":
                return 1;
            case "u16":
                return 2;
            case "u32":
                return 4;
            default:
                return Integer.parseInt(type.substring(0, type.length() - 1)); // "<N>s": N bytes
        }
    }

    @Test
    void indexFormat() throws IOException {
        JsonObject s = spec("index_format");
        assertEquals(s.get("magic").getAsString(), ProductIndex.MAGIC);
        assertEquals(s.get("format_version").getAsInt(), ProductIndex.FORMAT_VERSION);
        Map<String, Integer> offsets = new LinkedHashMap<>();
        offsets.put("magic", 0);
        offsets.put("version", ProductIndex.VERSION_OFFSET);
        offsets.put("dtype", ProductIndex.DTYPE_OFFSET);
        offsets.put("flags", ProductIndex.FLAGS_OFFSET);
        offsets.put("dim", ProductIndex.DIM_OFFSET);
        offsets.put("count", ProductIndex.COUNT_OFFSET);
        offsets.put("fingerprint", ProductIndex.FINGERPRINT_OFFSET);
        Map<String, Integer> specOffsets = new LinkedHashMap<>();
        int at = 0;
        for (JsonElement field : s.getAsJsonArray("header")) {
            JsonArray f = field.getAsJsonArray();
            specOffsets.put(f.get(0).getAsString(), at);
            at += width(f.get(1).getAsString());
        }
        assertEquals(specOffsets, offsets);
        assertEquals(s.get("header_bytes").getAsInt(), at);
        assertEquals(s.get("header_bytes").getAsInt(), ProductIndex.HEADER_BYTES);
        JsonObject codes = s.getAsJsonObject("dtype_codes");
        assertEquals(codes.keySet(), Set.of("float32", "int8"));
        assertEquals(codes.get("float32").getAsInt(), ProductIndex.FLOAT32_CODE);
        assertEquals(codes.get("int8").getAsInt(), ProductIndex.INT8_CODE);
        assertEquals(s.get("max_dim").getAsInt(), ProductIndex.MAX_DIM);
        assertEquals(s.get("max_count").getAsInt(), ProductIndex.MAX_COUNT);
        assertEquals(s.get("max_id_bytes").getAsInt(), ProductIndex.MAX_ID_BYTES);
        assertEquals(s.get("quant_levels").getAsInt(), ProductIndex.QUANT_LEVELS);
        assertEquals(s.get("unit_norm_tolerance").getAsDouble(), ProductIndex.UNIT_NORM_TOLERANCE);
        assertEquals(s.get("fingerprint_prefix").getAsString(), "sha256:");
        assertEquals(ModelMetadata.FINGERPRINT.pattern(), "sha256:[0-9a-f]{64}");
    }

    @Test
    void modelMetadata() throws IOException {
        JsonObject s = spec("model_metadata");
        assertEquals(s.get("file_name").getAsString(), ModelMetadataReader.METADATA_NAME);
        assertEquals(s.get("format").getAsString(), ModelMetadata.FORMAT);
        assertEquals(strings(s.get("keys")), ModelMetadata.KEYS);
        assertEquals(strings(s.get("precisions")), ModelMetadata.PRECISIONS);
        assertEquals(s.get("fingerprint_pattern").getAsString(), ModelMetadata.FINGERPRINT.pattern());
    }

    @Test
    void preprocess() throws IOException {
        JsonObject s = spec("preprocess");
        assertEquals(strings(s.get("fields")), PreprocessConfig.FIELDS);
        assertEquals(strings(s.get("resize_rules")), Set.of(PreprocessConfig.TRIANGLE_FIXED14));
        assertEquals(s.get("min_input_size").getAsInt(), PreprocessConfig.MIN_INPUT_SIZE);
        assertEquals(s.get("max_input_size").getAsInt(), PreprocessConfig.MAX_INPUT_SIZE);
        assertEquals(s.get("weight_bits").getAsInt(), ResizeWeights.BITS);
        assertEquals(s.get("max_reduction").getAsInt(), ResizeWeights.MAX_REDUCTION);
    }
}
