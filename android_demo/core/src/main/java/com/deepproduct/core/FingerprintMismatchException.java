package com.deepproduct.core;

/** The index was built with another model than the one that embeds the queries: rebuild it. */
public class FingerprintMismatchException extends IndexFormatException {
    private static final long serialVersionUID = 1L;

    public FingerprintMismatchException(String message) {
        super(message);
    }
}
