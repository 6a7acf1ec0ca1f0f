package com.deepproduct.core;

import java.util.Objects;

/** One product found by {@link ProductIndex#search}: its id and the cosine score of its best row. */
public final class SearchResult {
    private final String productId;
    private final double score;

    public SearchResult(String productId, double score) {
        this.productId = Objects.requireNonNull(productId, "productId");
        this.score = score;
    }

    /** The product id, as stored in the index. */
    public String productId() {
        return productId;
    }

    /** Cosine similarity of the product's best row with the query, in [-1, 1]. */
    public double score() {
        return score;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof SearchResult)) {
            return false;
        }
        SearchResult other = (SearchResult) o;
        return productId.equals(other.productId)
                && Double.doubleToLongBits(score) == Double.doubleToLongBits(other.score);
    }

    @Override
    public int hashCode() {
        return Objects.hash(productId, score);
    }

    @Override
    public String toString() {
        return productId + " " + score;
    }
}
