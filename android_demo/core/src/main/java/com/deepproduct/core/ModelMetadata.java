package com.deepproduct.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * What an exported model says about itself: its {@code preprocessing.json} document.
 *
 * <p>Mirrors {@code mobile_sdk.model_metadata.ModelMetadata}: every key is required, unknown
 * keys are refused, and the {@code format} tag must be {@value #FORMAT}. Read it with {@link
 * ModelMetadataReader}.
 */
public final class ModelMetadata {
    public static final String FORMAT = "deepproduct-model-metadata/1";

    static final Set<String> KEYS = new TreeSet<>(Arrays.asList(
            "embedding_dim", "format", "l2_normalized_output", "model_fingerprint", "name", "precision",
            "preprocess", "version"));
    static final Set<String> PRECISIONS = new TreeSet<>(Arrays.asList("fp32", "fp16", "int8"));
    static final Pattern FINGERPRINT = Pattern.compile("sha256:[0-9a-f]{64}");

    private final PreprocessConfig preprocess;
    private final int embeddingDim;
    private final boolean l2NormalizedOutput;
    private final String modelFingerprint;
    private final String name;
    private final String version;
    private final String precision;

    private ModelMetadata(PreprocessConfig preprocess, int embeddingDim, boolean l2NormalizedOutput,
            String modelFingerprint, String name, String version, String precision) {
        this.preprocess = preprocess;
        this.embeddingDim = embeddingDim;
        this.l2NormalizedOutput = l2NormalizedOutput;
        this.modelFingerprint = modelFingerprint;
        this.name = name;
        this.version = version;
        this.precision = precision;
    }

    /**
     * Parses a {@code preprocessing.json} document.
     *
     * @throws ModelMetadataException invalid JSON, wrong format tag, a missing or unknown key, or
     *     an invalid value; the message names the key
     */
    public static ModelMetadata fromJson(String json) {
        JsonObject o = Json.parseObject(json, "metadata");
        JsonElement format = o.get("format");
        if (format == null || !format.isJsonPrimitive() || !FORMAT.equals(format.getAsString())) {
            throw new ModelMetadataException(
                    "unsupported metadata format " + format + " (expected '" + FORMAT + "')");
        }
        Json.requireExactKeys(o, KEYS, "metadata");
        JsonElement pre = o.get("preprocess");
        if (!pre.isJsonObject()) {
            throw new ModelMetadataException("preprocess must be a JSON object, got " + pre);
        }
        PreprocessConfig preprocess = PreprocessConfig.fromJsonObject(pre.getAsJsonObject());
        int dim;
        try {
            dim = Json.integer(o, "embedding_dim");
        } catch (ModelMetadataException e) {
            throw new ModelMetadataException(
                    "embedding_dim must be a positive int, got " + o.get("embedding_dim"));
        }
        if (dim < 1) {
            throw new ModelMetadataException("embedding_dim must be a positive int, got " + dim);
        }
        boolean l2 = Json.bool(o, "l2_normalized_output");
        String fingerprint = Json.string(o, "model_fingerprint");
        if (!FINGERPRINT.matcher(fingerprint).matches()) {
            throw new ModelMetadataException(
                    "model_fingerprint must be 'sha256:<64 hex digits>', got '" + fingerprint + "'");
        }
        String name = nonEmpty(o, "name");
        String version = nonEmpty(o, "version");
        String precision = Json.string(o, "precision");
        if (!PRECISIONS.contains(precision)) {
            throw new ModelMetadataException("precision must be one of " + PRECISIONS + ", got " + precision);
        }
        return new ModelMetadata(preprocess, dim, l2, fingerprint, name, version, precision);
    }

    private static String nonEmpty(JsonObject o, String key) {
        String value = Json.string(o, key);
        if (value.isEmpty()) {
            throw new ModelMetadataException(key + " must be a non-empty string");
        }
        return value;
    }

    /** How a photo becomes the model input. */
    public PreprocessConfig preprocess() {
        return preprocess;
    }

    /** Length D of the model output. */
    public int embeddingDim() {
        return embeddingDim;
    }

    /** Whether the model output is already unit length; when false the runtime normalises. */
    public boolean l2NormalizedOutput() {
        return l2NormalizedOutput;
    }

    /** {@code "sha256:<64 hex>"}: an index is only valid for models with the same fingerprint. */
    public String modelFingerprint() {
        return modelFingerprint;
    }

    public String name() {
        return name;
    }

    public String version() {
        return version;
    }

    /** {@code "fp32"}, {@code "fp16"} or {@code "int8"}: how the model file computes. */
    public String precision() {
        return precision;
    }

    @Override
    public String toString() {
        return "ModelMetadata(" + name + " " + version + ", " + precision + ", dim=" + embeddingDim + ", "
                + modelFingerprint + ", " + preprocess + ")";
    }
}
