package com.deepproduct.core;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigInteger;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Strict JSON reading with the typing rules of Python's {@code json} module.
 *
 * <p>Gson (a plain-Java library, on Android and from Debian's {@code libgoogle-gson-java}) does
 * the parsing; {@code org.json} is an Android framework API that does not exist on a plain JVM,
 * so the core cannot use it. The reader is strict (no comments, unquoted strings or NaN) and
 * numbers keep their text, so that "an int" means what it means in Python: a number written
 * without fraction or exponent. Decimal numbers go through {@link Double#parseDouble}, which
 * rounds correctly, like Python: both runtimes get identical doubles (PREPROCESSING.md
 * section 0).
 */
final class Json {
    private static final TypeAdapter<JsonElement> ELEMENTS = new Gson().getAdapter(JsonElement.class);
    private static final Pattern INTEGER = Pattern.compile("-?(0|[1-9][0-9]*)");

    private Json() {}

    /** Parses a whole document that must be one JSON object; {@code what} names it in errors. */
    static JsonObject parseObject(String text, String what) {
        JsonElement element;
        try (JsonReader reader = new JsonReader(new StringReader(text))) {
            reader.setLenient(false);
            element = ELEMENTS.read(reader);
            if (reader.peek() != JsonToken.END_DOCUMENT) {
                throw new ModelMetadataException(what + " is not valid JSON: data after the object");
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof ModelMetadataException) {
                throw (ModelMetadataException) e;
            }
            throw new ModelMetadataException(what + " is not valid JSON: " + e.getMessage());
        }
        if (element == null || !element.isJsonObject()) {
            throw new ModelMetadataException(what + " must be a JSON object");
        }
        return element.getAsJsonObject();
    }

    /** Refuses unknown keys, then missing ones (the order of the Python checks). */
    static void requireExactKeys(JsonObject object, Set<String> keys, String what) {
        Set<String> unknown = new TreeSet<>(object.keySet());
        unknown.removeAll(keys);
        if (!unknown.isEmpty()) {
            throw new ModelMetadataException("unknown " + what + " field(s): " + unknown);
        }
        Set<String> missing = new TreeSet<>(keys);
        missing.removeAll(object.keySet());
        if (!missing.isEmpty()) {
            throw new ModelMetadataException("missing " + what + " field(s): " + missing);
        }
    }

    /** A JSON integer (no fraction, no exponent) that fits an {@code int}. */
    static int integer(JsonObject object, String key) {
        JsonPrimitive p = number(object, key, "an int");
        String text = p.getAsString();
        if (!INTEGER.matcher(text).matches()) {
            throw new ModelMetadataException(key + " must be an int, got " + text);
        }
        BigInteger value = new BigInteger(text);
        if (value.bitLength() > 31) {
            throw new ModelMetadataException(key + " is out of range: " + text);
        }
        return value.intValue();
    }

    /** Any JSON number, as the nearest double; it must be finite. */
    static double real(JsonElement element, String key) {
        if (element == null || !element.isJsonPrimitive() || !element.getAsJsonPrimitive().isNumber()) {
            throw new ModelMetadataException(key + " must be a number, got " + element);
        }
        double value = Double.parseDouble(element.getAsString());
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            throw new ModelMetadataException(key + " must be finite, got " + element.getAsString());
        }
        return value;
    }

    static String string(JsonObject object, String key) {
        JsonElement e = object.get(key);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new ModelMetadataException(key + " must be a string, got " + e);
        }
        return e.getAsString();
    }

    static boolean bool(JsonObject object, String key) {
        JsonElement e = object.get(key);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw new ModelMetadataException(key + " must be true or false, got " + e);
        }
        return e.getAsBoolean();
    }

    private static JsonPrimitive number(JsonObject object, String key, String expected) {
        JsonElement e = object.get(key);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new ModelMetadataException(key + " must be " + expected + ", got " + e);
        }
        return e.getAsJsonPrimitive();
    }
}
