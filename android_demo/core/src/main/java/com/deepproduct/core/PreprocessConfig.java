package com.deepproduct.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * How a photo becomes the model input (PREPROCESSING.md section 0); read from the model.
 *
 * <p>Never construct one from constants in an app: the model's metadata carries the values
 * ({@link ModelMetadataReader}). Every field is required and unknown fields are refused, so the
 * core never silently ignores a setting it does not implement.
 */
public final class PreprocessConfig {
    /** The only resampling rule this core implements (PREPROCESSING.md section 4). */
    public static final String TRIANGLE_FIXED14 = "triangle-fixed14";

    public static final int MIN_INPUT_SIZE = 16;
    public static final int MAX_INPUT_SIZE = 4096;

    static final Set<String> FIELDS =
            new TreeSet<>(Arrays.asList("input_size", "crop_fraction", "mean", "std", "resize"));

    private final int inputSize;
    private final double cropFraction;
    private final double[] mean;
    private final double[] std;
    private final String resize;

    /**
     * @param inputSize side N of the square model input, 16..4096
     * @param cropFraction crop side / resized short side, {@code 0 < x <= 1}
     * @param mean per-channel R, G, B offset in 0..255 units, finite
     * @param std per-channel R, G, B divisor in 0..255 units, finite and {@code > 0}
     * @param resize resampling rule name; only {@value #TRIANGLE_FIXED14}
     * @throws ModelMetadataException a value is out of range; the message names the field
     */
    public PreprocessConfig(int inputSize, double cropFraction, double[] mean, double[] std, String resize) {
        this.inputSize = inputSize;
        this.cropFraction = cropFraction;
        this.mean = checkTriple("mean", mean);
        this.std = checkTriple("std", std);
        this.resize = resize;
        if (inputSize < MIN_INPUT_SIZE || inputSize > MAX_INPUT_SIZE) {
            throw new ModelMetadataException(
                    "input_size must be in " + MIN_INPUT_SIZE + ".." + MAX_INPUT_SIZE + ", got " + inputSize);
        }
        if (!(cropFraction > 0.0 && cropFraction <= 1.0)) {
            throw new ModelMetadataException("crop_fraction must satisfy 0 < x <= 1, got " + cropFraction);
        }
        for (double s : this.std) {
            if (!(s > 0.0)) {
                throw new ModelMetadataException(
                        "std must be > 0 in every channel, got " + Arrays.toString(this.std));
            }
        }
        if (!TRIANGLE_FIXED14.equals(resize)) {
            throw new ModelMetadataException(
                    "resize must be one of [" + TRIANGLE_FIXED14 + "], got " + resize);
        }
    }

    /**
     * Parses the {@code "preprocess"} object of the model metadata (or {@code to_json} output).
     *
     * @throws ModelMetadataException invalid JSON, a missing or unknown field, a wrong type or
     *     range; the message names the field
     */
    public static PreprocessConfig fromJson(String json) {
        return fromJsonObject(Json.parseObject(json, "preprocess config"));
    }

    static PreprocessConfig fromJsonObject(JsonObject o) {
        Json.requireExactKeys(o, FIELDS, "preprocess config");
        return new PreprocessConfig(
                Json.integer(o, "input_size"),
                Json.real(o.get("crop_fraction"), "crop_fraction"),
                triple(o, "mean"),
                triple(o, "std"),
                Json.string(o, "resize"));
    }

    private static double[] triple(JsonObject o, String key) {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonArray() || e.getAsJsonArray().size() != 3) {
            throw new ModelMetadataException(key + " must be a sequence of 3 numbers (R, G, B), got " + e);
        }
        JsonArray a = e.getAsJsonArray();
        double[] out = new double[3];
        for (int i = 0; i < 3; i++) {
            out[i] = Json.real(a.get(i), key + "[" + i + "]");
        }
        return out;
    }

    private static double[] checkTriple(String name, double[] values) {
        if (values == null || values.length != 3) {
            throw new ModelMetadataException(name + " must have 3 values (R, G, B)");
        }
        for (double v : values) {
            if (Double.isNaN(v) || Double.isInfinite(v)) {
                throw new ModelMetadataException(name + " must be finite, got " + Arrays.toString(values));
            }
        }
        return values.clone();
    }

    /** Side N of the square model input. */
    public int inputSize() {
        return inputSize;
    }

    public double cropFraction() {
        return cropFraction;
    }

    /** Per-channel R, G, B mean (a copy). */
    public double[] mean() {
        return mean.clone();
    }

    /** Per-channel R, G, B std (a copy). */
    public double[] std() {
        return std.clone();
    }

    public String resize() {
        return resize;
    }

    /** {@code floor(input_size / crop_fraction + 0.5)} in double: the resized short side S. */
    public int resizedShortSide() {
        return (int) Math.floor(inputSize / cropFraction + 0.5);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof PreprocessConfig)) {
            return false;
        }
        PreprocessConfig c = (PreprocessConfig) o;
        return inputSize == c.inputSize
                && Double.compare(cropFraction, c.cropFraction) == 0
                && Arrays.equals(mean, c.mean)
                && Arrays.equals(std, c.std)
                && resize.equals(c.resize);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Integer.hashCode(inputSize) + Double.hashCode(cropFraction)) + resize.hashCode();
    }

    @Override
    public String toString() {
        return "PreprocessConfig(input_size=" + inputSize + ", crop_fraction=" + cropFraction + ", mean="
                + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + ", resize=" + resize + ")";
    }
}
