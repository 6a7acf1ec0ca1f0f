package com.deepproduct.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import java.security.MessageDigest;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The bundle itself: every file the manifest lists is there, unchanged. */
class GoldenBundleTest {
    @Test
    void everyFileMatchesItsChecksum() throws Exception {
        GoldenBundle g = GoldenBundle.get();
        for (Map.Entry<String, com.google.gson.JsonElement> e : g.manifest.getAsJsonObject("files").entrySet()) {
            JsonObject f = e.getValue().getAsJsonObject();
            byte[] data = g.bytes(e.getKey());
            assertEquals(f.get("bytes").getAsLong(), data.length, e.getKey() + " size");
            StringBuilder hex = new StringBuilder();
            for (byte b : MessageDigest.getInstance("SHA-256").digest(data)) {
                hex.append(String.format("%02x", b & 0xFF));
            }
            assertEquals(f.get("sha256").getAsString(), hex.toString(), e.getKey() + " sha256");
        }
    }
}
