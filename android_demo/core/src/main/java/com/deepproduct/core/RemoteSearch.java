package com.deepproduct.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;

/**
 * Search a catalog served by {@code deepproduct serve} instead of an on-device {@link ProductIndex}.
 *
 * <p>The phone still embeds the photo ({@link ProductSearch#embed}); this sends the embedding's
 * int8 codes (INDEX_FORMAT.md section 3, one byte per value: 256 bytes for the shipped model, as
 * base64) with the model's fingerprint to {@code POST <server>/search?k=&min_score=}, and parses
 * the answer {@code {"results": [{"product_id", "score"}], "model"}} into the same
 * {@link SearchResult}s the on-device search returns, so the app shows them on the same screen.
 * The service refuses embeddings of another model (HTTP 409), which becomes a
 * {@link FingerprintMismatchException} here, as an index of another model does on the device.
 *
 * <p>Plain {@link HttpURLConnection}: no dependency beyond the JDK / Android framework. Call it
 * off the main thread.
 */
public final class RemoteSearch {
    public static final int DEFAULT_TIMEOUT_MILLIS = 10_000;
    private static final int MAX_ANSWER_BYTES = 1 << 20;

    private final String searchUrl;
    private final String modelFingerprint;
    private final int timeoutMillis;

    /**
     * @param serverUrl the service, e.g. {@code http://192.168.1.20:8080} (a path prefix is kept)
     * @param modelFingerprint {@code sha256:<hex>} of the model that embeds the queries (the
     *     service checks it against its catalog), or null to skip the check
     * @param timeoutMillis connect and read timeout
     * @throws IllegalArgumentException the URL is not http(s) or malformed
     */
    public RemoteSearch(String serverUrl, String modelFingerprint, int timeoutMillis) {
        URI uri;
        try {
            uri = new URI(serverUrl.trim());
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("server URL " + serverUrl + " is malformed: " + e.getMessage());
        }
        String scheme = uri.getScheme();
        if (scheme == null || !(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
            throw new IllegalArgumentException(
                    "server URL must be http://host:port or https://host:port, got " + serverUrl);
        }
        String base = uri.toString();
        this.searchUrl = (base.endsWith("/") ? base.substring(0, base.length() - 1) : base) + "/search";
        this.modelFingerprint = modelFingerprint;
        if (timeoutMillis <= 0) {
            throw new IllegalArgumentException("timeoutMillis must be positive, got " + timeoutMillis);
        }
        this.timeoutMillis = timeoutMillis;
    }

    /** The URL queries are posted to. */
    public String searchUrl() {
        return searchUrl;
    }

    /**
     * Up to {@code k} products for a query embedding, best first (empty: no match).
     *
     * @param embedding the query embedding (L2-normalised or not: the int8 rule is scale-free)
     * @param minScore results scoring below this cosine are dropped; NaN or -infinity: none
     * @throws FingerprintMismatchException the service's catalog is of another model
     * @throws RemoteSearchException no answer, a refused query, or a malformed answer
     */
    public List<SearchResult> search(float[] embedding, int k, double minScore) {
        String url = searchUrl + "?k=" + k;
        if (!Double.isNaN(minScore) && !Double.isInfinite(minScore)) {
            url += "&min_score=" + minScore;
        }
        byte[] body = requestBody(embedding, modelFingerprint).getBytes(StandardCharsets.UTF_8);
        HttpURLConnection connection = null;
        try {
            connection = (HttpURLConnection) new URL(url).openConnection();
            connection.setConnectTimeout(timeoutMillis);
            connection.setReadTimeout(timeoutMillis);
            connection.setRequestMethod("POST");
            connection.setDoOutput(true);
            connection.setRequestProperty("Content-Type", "application/json");
            connection.setFixedLengthStreamingMode(body.length);
            try (OutputStream out = connection.getOutputStream()) {
                out.write(body);
            }
            int status = connection.getResponseCode();
            InputStream in = status >= 400 ? connection.getErrorStream() : connection.getInputStream();
            String answer = in == null ? "" : readAll(in);
            return parseResponse(status, answer, modelFingerprint, searchUrl);
        } catch (IOException e) {
            throw new RemoteSearchException(0, searchUrl + ": no answer (" + e + ")");
        } finally {
            if (connection != null) {
                connection.disconnect();
            }
        }
    }

    /**
     * The JSON body of a query: {@code {"embedding_int8": "<base64>", "model": "sha256:..."}}.
     *
     * @throws IllegalArgumentException the embedding is empty, not finite or all zeros
     */
    public static String requestBody(float[] embedding, String modelFingerprint) {
        byte[] codes = ProductIndex.quantizeInt8(embedding);
        JsonObject body = new JsonObject();
        body.addProperty("embedding_int8", Base64.getEncoder().encodeToString(codes));
        if (modelFingerprint != null) {
            body.addProperty("model", modelFingerprint);
        }
        return body.toString();
    }

    /**
     * The service's answer as search results.
     *
     * @param status the HTTP status
     * @param body the answer's text
     * @param expectedModel the fingerprint the catalog must have, or null
     * @param source what error messages name (the URL)
     * @throws FingerprintMismatchException HTTP 409, or a 200 answer about another model
     * @throws RemoteSearchException another error status (with the service's message), or an
     *     answer that is not a search answer
     */
    public static List<SearchResult> parseResponse(int status, String body, String expectedModel, String source) {
        JsonObject answer;
        try {
            answer = Json.parseObject(body, "answer");
        } catch (ModelMetadataException e) {
            String excerpt = body.length() > 200 ? body.substring(0, 200) + "..." : body;
            if (status != 200) {
                throw new RemoteSearchException(status, source + ": HTTP " + status + ": " + excerpt.trim());
            }
            throw new RemoteSearchException(status, source + ": not a search answer (" + e.getMessage() + ")");
        }
        if (status != 200) {
            JsonElement error = answer.get("error");
            String message = source + ": HTTP " + status + ": "
                    + (error != null && error.isJsonPrimitive() ? error.getAsString() : answer.toString());
            if (status == 409) {
                throw new FingerprintMismatchException(message);
            }
            throw new RemoteSearchException(status, message);
        }
        try {
            String model = Json.string(answer, "model");
            if (expectedModel != null && !expectedModel.equals(model)) {
                int hex = "sha256:".length();
                throw new FingerprintMismatchException(source + ": the catalog was built with model "
                        + model.substring(hex, Math.min(model.length(), hex + 16)) + "..., but the queries come from model "
                        + expectedModel.substring(hex, Math.min(expectedModel.length(), hex + 16)) + "...");
            }
            JsonElement results = answer.get("results");
            if (results == null || !results.isJsonArray()) {
                throw new ModelMetadataException("results must be a list, got " + results);
            }
            JsonArray hits = results.getAsJsonArray();
            List<SearchResult> out = new ArrayList<>(hits.size());
            for (JsonElement hit : hits) {
                if (!hit.isJsonObject()) {
                    throw new ModelMetadataException("each result must be an object, got " + hit);
                }
                JsonObject h = hit.getAsJsonObject();
                out.add(new SearchResult(Json.string(h, "product_id"), Json.real(h.get("score"), "score")));
            }
            return Collections.unmodifiableList(out);
        } catch (ModelMetadataException e) {
            throw new RemoteSearchException(status, source + ": not a search answer (" + e.getMessage() + ")");
        }
    }

    private static String readAll(InputStream in) throws IOException {
        try (InputStream input = in) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buffer = new byte[8192];
            int n;
            while ((n = input.read(buffer)) != -1) {
                out.write(buffer, 0, n);
                if (out.size() > MAX_ANSWER_BYTES) {
                    throw new IOException("answer longer than " + MAX_ANSWER_BYTES + " bytes");
                }
            }
            return new String(out.toByteArray(), StandardCharsets.UTF_8);
        }
    }
}
