package com.deepproduct.core;

/**
 * Fixed-point filter taps of the {@code triangle-fixed14} rule for one axis (PREPROCESSING.md 4.1).
 *
 * <p>Output {@code i} is {@code (8192 + sum_t weight(i)[t] * input[first(i) + t]) >> 14}. Every
 * weight is in 0..16384 and the weights of one output sum to exactly {@link #ONE}.
 */
public final class ResizeWeights {
    public static final int BITS = 14;
    /** Fixed-point 1.0. */
    public static final int ONE = 1 << BITS;
    /** Largest in/out ratio per axis that the rule allows. */
    public static final int MAX_REDUCTION = 256;

    private final int inSize;
    private final int outSize;
    private final int[] first;
    private final int[][] weights;

    private ResizeWeights(int inSize, int outSize, int[] first, int[][] weights) {
        this.inSize = inSize;
        this.outSize = outSize;
        this.first = first;
        this.weights = weights;
    }

    /**
     * Computes the taps exactly as PREPROCESSING.md 4.1 specifies: IEEE double, each operation
     * rounded on its own (Java never fuses a multiply-add unless asked with {@code Math.fma}),
     * division by {@code total} (not multiplication by its reciprocal), sequential sums.
     *
     * @throws IllegalArgumentException a size is not positive, or {@code inSize > 256 * outSize}
     */
    public static ResizeWeights compute(int inSize, int outSize) {
        if (inSize < 1 || outSize < 1) {
            throw new IllegalArgumentException("sizes must be positive, got " + inSize + " -> " + outSize);
        }
        if ((long) inSize > (long) MAX_REDUCTION * outSize) {
            throw new IllegalArgumentException("cannot resize " + inSize + " -> " + outSize
                    + ": reduction above " + MAX_REDUCTION + "x is outside the triangle-fixed14 rule");
        }
        double scale = (double) inSize / (double) outSize;
        double support = Math.max(scale, 1.0);
        int[] first = new int[outSize];
        int[][] weights = new int[outSize][];
        for (int i = 0; i < outSize; i++) {
            double centre = (i + 0.5) * scale;
            int lo = (int) Math.max(0.0, Math.floor(centre - support));
            int hi = (int) Math.min(inSize - 1, Math.ceil(centre + support));
            int taps = hi - lo + 1;
            double[] w = new double[taps];
            double total = 0.0;
            for (int t = 0; t < taps; t++) {
                int j = lo + t;
                w[t] = Math.max(0.0, 1.0 - Math.abs((j + 0.5) - centre) / support);
                total += w[t];
            }
            int[] q = new int[taps];
            int sum = 0;
            int largest = 0;
            for (int t = 0; t < taps; t++) {
                q[t] = (int) Math.floor((w[t] / total) * 16384.0 + 0.5);
                sum += q[t];
                if (q[t] > q[largest]) {
                    largest = t; // strictly greater: the lowest j wins ties
                }
            }
            q[largest] += ONE - sum;
            first[i] = lo;
            weights[i] = q;
        }
        return new ResizeWeights(inSize, outSize, first, weights);
    }

    public int inSize() {
        return inSize;
    }

    public int outSize() {
        return outSize;
    }

    /** Input index of the first tap of output {@code i}. */
    public int first(int i) {
        return first[i];
    }

    /** Weights of output {@code i}, for inputs {@code first(i)}, {@code first(i) + 1}, ... (a copy). */
    public int[] weights(int i) {
        return weights[i].clone();
    }

    int[] weightsNoCopy(int i) {
        return weights[i];
    }
}
