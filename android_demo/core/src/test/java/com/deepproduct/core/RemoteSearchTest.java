package com.deepproduct.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * {@link RemoteSearch} against answers recorded from {@code deepproduct serve}.
 *
 * <p>The files in {@code src/test/resources/remote/} hold a request, the service's status and its
 * JSON answer; {@code tests/test_server_http.py} fails when the Python service no longer answers
 * exactly that, so the client is tested against what the service really sends.
 */
class RemoteSearchTest {
    private static final String MODEL = "sha256:" + "ab".repeat(32);
    private static final String SOURCE = "http://test/search";

    private static JsonObject recorded(String name) {
        try (InputStream in = RemoteSearchTest.class.getResourceAsStream("/remote/" + name + ".json")) {
            if (in == null) {
                throw new AssertionError("recorded answer remote/" + name + ".json is not on the class path");
            }
            return JsonParser.parseString(new String(in.readAllBytes(), StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static int status(JsonObject recorded) {
        return recorded.get("status").getAsInt();
    }

    private static String body(JsonObject recorded) {
        return recorded.get("body").toString();
    }

    private static List<SearchResult> expected(JsonObject recorded) {
        List<SearchResult> out = new ArrayList<>();
        for (JsonElement hit : recorded.getAsJsonObject("body").getAsJsonArray("results")) {
            JsonObject h = hit.getAsJsonObject();
            out.add(new SearchResult(h.get("product_id").getAsString(), Double.parseDouble(h.get("score").getAsString())));
        }
        return out;
    }

    @Test
    void parsesTheResultsOfARecordedAnswer() {
        JsonObject ok = recorded("ok");
        List<SearchResult> hits = RemoteSearch.parseResponse(status(ok), body(ok), MODEL, SOURCE);
        assertEquals(expected(ok), hits);
        assertEquals(3, hits.size());
        assertEquals("mug", hits.get(0).productId());
        assertEquals("shoe", hits.get(1).productId()); // its best row of two, reported once
        assertEquals(0.9805806875228882, hits.get(0).score(), 0.0);
        assertEquals(expected(recorded("ok_int8")), RemoteSearch.parseResponse(200, body(recorded("ok_int8")), MODEL, SOURCE));
    }

    @Test
    void noMatchIsAnEmptyList() {
        JsonObject none = recorded("no_match");
        assertTrue(RemoteSearch.parseResponse(status(none), body(none), MODEL, SOURCE).isEmpty());
    }

    @Test
    void theRequestBodyCarriesTheInt8CodesOfThePythonRule() {
        // the same codes as the recorded int8 query: rint(0.2 * 127 / 1.0) = 25
        String body = RemoteSearch.requestBody(new float[] {1.0f, 0.2f, 0.0f, 0.0f}, MODEL);
        JsonObject request = JsonParser.parseString(body).getAsJsonObject();
        String recordedCodes = recorded("ok_int8").getAsJsonObject("request").getAsJsonObject("body")
                .get("embedding_int8").getAsString();
        assertEquals(recordedCodes, request.get("embedding_int8").getAsString());
        assertEquals(MODEL, request.get("model").getAsString());
        assertThrows(IllegalArgumentException.class, () -> RemoteSearch.requestBody(new float[4], MODEL));
    }

    @Test
    void aModelMismatchIsAFingerprintMismatch() {
        JsonObject mismatch = recorded("model_mismatch");
        FingerprintMismatchException e = assertThrows(FingerprintMismatchException.class,
                () -> RemoteSearch.parseResponse(status(mismatch), body(mismatch), MODEL, SOURCE));
        assertTrue(e.getMessage().startsWith(SOURCE + ": HTTP 409: the query comes from model cdcdcdcdcdcdcdcd"),
                e.getMessage());
        // a 200 answer about another model is refused too
        JsonObject ok = recorded("ok");
        String other = "sha256:" + "ef".repeat(32);
        e = assertThrows(FingerprintMismatchException.class, () -> RemoteSearch.parseResponse(200, body(ok), other, SOURCE));
        assertTrue(e.getMessage().contains("built with model abababababababab..."), e.getMessage());
    }

    @Test
    void refusedQueriesCarryTheServicesMessage() {
        for (String name : new String[] {"wrong_length", "too_large"}) {
            JsonObject answer = recorded(name);
            RemoteSearchException e = assertThrows(RemoteSearchException.class,
                    () -> RemoteSearch.parseResponse(status(answer), body(answer), MODEL, SOURCE));
            assertEquals(status(answer), e.status());
            String error = answer.getAsJsonObject("body").get("error").getAsString();
            assertEquals(SOURCE + ": HTTP " + status(answer) + ": " + error, e.getMessage());
        }
        assertEquals(400, status(recorded("wrong_length")));
        assertEquals(413, status(recorded("too_large")));
    }

    @Test
    void answersThatAreNotSearchAnswersAreRefused() {
        RemoteSearchException proxy = assertThrows(RemoteSearchException.class,
                () -> RemoteSearch.parseResponse(502, "<html>Bad Gateway</html>", MODEL, SOURCE));
        assertEquals(502, proxy.status());
        assertTrue(proxy.getMessage().contains("HTTP 502: <html>Bad Gateway</html>"), proxy.getMessage());
        for (String bad : new String[] {
            "{\"results\": [{\"product_id\": \"a\"}], \"model\": \"" + MODEL + "\"}",
            "{\"results\": {}, \"model\": \"" + MODEL + "\"}",
            "{\"results\": []}",
            "{\"results\": [], \"model\": \"" + MODEL + "\"} trailing",
        }) {
            RemoteSearchException e = assertThrows(RemoteSearchException.class,
                    () -> RemoteSearch.parseResponse(200, bad, MODEL, SOURCE), bad);
            assertTrue(e.getMessage().startsWith(SOURCE + ": not a search answer"), e.getMessage());
        }
    }

    @Test
    void badServerUrlsAreRefused() {
        for (String url : new String[] {"ftp://host/x", "localhost:8080", "http://", "http://bad host"}) {
            assertThrows(IllegalArgumentException.class, () -> new RemoteSearch(url, MODEL, 1000), url);
        }
        assertEquals("http://h:1/api/search", new RemoteSearch("http://h:1/api/", MODEL, 1000).searchUrl());
    }

    /** A loopback HTTP server that answers one recorded answer and keeps the request it got. */
    private static HttpServer replay(JsonObject answer, AtomicReference<String> path, AtomicReference<String> body)
            throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            path.set(exchange.getRequestURI().toString());
            body.set(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8)
                    + " " + exchange.getRequestHeaders().getFirst("Content-Type"));
            byte[] bytes = body(answer).getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(status(answer), bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        server.start();
        return server;
    }

    @Test
    void searchesOverLoopback() throws IOException {
        AtomicReference<String> path = new AtomicReference<>();
        AtomicReference<String> body = new AtomicReference<>();
        HttpServer server = replay(recorded("ok"), path, body);
        try {
            String url = "http://127.0.0.1:" + server.getAddress().getPort();
            RemoteSearch remote = new RemoteSearch(url, MODEL, 5000);
            List<SearchResult> hits = remote.search(new float[] {1.0f, 0.2f, 0.0f, 0.0f}, 3, 0.5);
            assertEquals(expected(recorded("ok")), hits);
            assertEquals("/search?k=3&min_score=0.5", path.get());
            assertEquals(RemoteSearch.requestBody(new float[] {1.0f, 0.2f, 0.0f, 0.0f}, MODEL) + " application/json",
                    body.get());
            remote.search(new float[] {1.0f, 0.2f, 0.0f, 0.0f}, 3, Double.NEGATIVE_INFINITY);
            assertEquals("/search?k=3", path.get());
        } finally {
            server.stop(0);
        }
        server = replay(recorded("wrong_length"), path, body);
        try {
            RemoteSearch remote = new RemoteSearch("http://127.0.0.1:" + server.getAddress().getPort(), MODEL, 5000);
            RemoteSearchException e = assertThrows(RemoteSearchException.class,
                    () -> remote.search(new float[] {1.0f, 0.0f}, 5, 0.0));
            assertEquals(400, e.status());
        } finally {
            server.stop(0);
        }
    }

    @Test
    void anUnreachableServiceIsARemoteSearchException() throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        RemoteSearch remote = new RemoteSearch("http://127.0.0.1:" + port, MODEL, 2000);
        RemoteSearchException e = assertThrows(RemoteSearchException.class, () -> remote.search(new float[] {1.0f}, 5, 0.0));
        assertEquals(0, e.status());
        assertTrue(e.getMessage().startsWith("http://127.0.0.1:" + port + "/search: no answer"), e.getMessage());
    }
}
