package com.deepproduct.core;

/**
 * A product index file is malformed, corrupt or does not fit the model (INDEX_FORMAT.md section 5).
 *
 * <p>The message names the file (or the source given to the reader) and the problem, as the
 * Python runtime's {@code IndexFormatError} does.
 */
public class IndexFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public IndexFormatException(String message) {
        super(message);
    }
}
