package com.deepproduct.core;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * Reads the DeepProduct metadata of an exported {@code .tflite} model.
 *
 * <p>The metadata is a TFLite Model Metadata associated file, {@value #METADATA_NAME}; a
 * {@code .tflite} with associated files is also a zip archive (the flatbuffer with a zip
 * appended), which {@link ZipFile} opens directly. No TFLite or metadata library is needed.
 */
public final class ModelMetadataReader {
    public static final String METADATA_NAME = "preprocessing.json";

    private ModelMetadataReader() {}

    /**
     * Reads and parses the metadata of a model file.
     *
     * @param model the {@code .tflite} file (on Android: copy the asset to the files dir first)
     * @return the parsed metadata
     * @throws ModelMetadataException the file carries no DeepProduct metadata or it is invalid;
     *     the message starts with the file name
     * @throws IOException the file cannot be read
     */
    public static ModelMetadata read(File model) throws IOException {
        String text = readText(model);
        try {
            return ModelMetadata.fromJson(text);
        } catch (ModelMetadataException e) {
            throw new ModelMetadataException(model + ": corrupt " + METADATA_NAME + ": " + e.getMessage());
        }
    }

    /**
     * The raw {@value #METADATA_NAME} text stored in a model file.
     *
     * @throws ModelMetadataException the file is not a zip or has no such entry
     * @throws IOException the file cannot be read
     */
    public static String readText(File model) throws IOException {
        if (!model.isFile()) {
            throw new ModelMetadataException(model + ": model file not found");
        }
        String reason;
        try (ZipFile zip = new ZipFile(model)) {
            ZipEntry entry = zip.getEntry(METADATA_NAME);
            if (entry != null) {
                try (InputStream in = zip.getInputStream(entry)) {
                    return new String(Streams.readAll(in), StandardCharsets.UTF_8);
                }
            }
            reason = "its associated files do not include " + METADATA_NAME;
        } catch (ZipException e) {
            reason = "it carries no associated files";
        }
        throw new ModelMetadataException(
                model + ": no DeepProduct metadata (" + reason + "); export the model with 'deepproduct export'");
    }

    /** Parses a metadata document held as a string (e.g. shipped beside the model in tests). */
    public static ModelMetadata fromJson(String json) {
        return ModelMetadata.fromJson(json);
    }
}
