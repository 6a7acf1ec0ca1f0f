package com.deepproduct.core;

/**
 * A model file carries no DeepProduct metadata, or its {@code preprocessing.json} is invalid.
 *
 * <p>The message names the offending field, as the Python runtime's {@code ModelMetadataError}
 * and {@code ValueError}s do.
 */
public class ModelMetadataException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ModelMetadataException(String message) {
        super(message);
    }
}
