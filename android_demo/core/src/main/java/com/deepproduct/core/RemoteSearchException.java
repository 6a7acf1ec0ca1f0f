package com.deepproduct.core;

/**
 * The search service (`deepproduct serve`) could not be reached, refused the query, or answered
 * something that is not a search answer.
 *
 * <p>The message names the service URL and carries the service's own error text (its JSON
 * {@code "error"}), e.g. {@code "http://10.0.2.2:8080/search: HTTP 400: 'embedding_int8' holds
 * 128 codes; this catalog's vectors have 256"}.
 */
public class RemoteSearchException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    public RemoteSearchException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** The HTTP status, or 0 when no answer came (connection refused, timeout). */
    public int status() {
        return status;
    }
}
