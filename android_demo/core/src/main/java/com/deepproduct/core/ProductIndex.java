package com.deepproduct.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32;

/**
 * A read-only product index in the format of {@code mobile_sdk/INDEX_FORMAT.md} (version 1).
 *
 * <p>{@link #search} scores every row by cosine similarity and returns one result per product
 * (its best row), best first, with the ranking rule of INDEX_FORMAT.md section 4. For {@code
 * int8} indexes the scores are bit-identical to the Python runtime's; for {@code float32} they
 * agree within float rounding (the dot product's summation order is free).
 */
public final class ProductIndex {
    /** Storage type of the rows. */
    public enum Dtype {
        FLOAT32,
        INT8
    }

    public static final int FORMAT_VERSION = 1;
    public static final int MAX_DIM = 1024;
    public static final int MAX_COUNT = 1 << 24;
    public static final int MAX_ID_BYTES = 1024;
    public static final int QUANT_LEVELS = 127;

    // Header layout (INDEX_FORMAT.md section 2; mobile_sdk/formats/index_format.json, checked
    // against these by FormatSpecTest): byte offsets of the little-endian fields.
    static final String MAGIC = "DPIX";
    static final int VERSION_OFFSET = 4;
    static final int DTYPE_OFFSET = 6;
    static final int FLAGS_OFFSET = 7;
    static final int DIM_OFFSET = 8;
    static final int COUNT_OFFSET = 12;
    static final int FINGERPRINT_OFFSET = 16;
    static final int HEADER_BYTES = 48;
    static final int FLOAT32_CODE = 0;
    static final int INT8_CODE = 1;
    static final double UNIT_NORM_TOLERANCE = 1e-3;
    private static final Pattern FINGERPRINT = Pattern.compile("(?:sha256:)?([0-9a-fA-F]{64})");

    private final String source;
    private final Dtype dtype;
    private final int dim;
    private final int count;
    private final String fingerprint;
    private final String[] rowIds;
    private final float[] floats; // FLOAT32: count * dim unit rows
    private final byte[] codes; // INT8: count * dim codes
    private final double[] invNorms; // INT8: 1 / sqrt(sum of squared codes) per row

    private ProductIndex(String source, Dtype dtype, int dim, int count, String fingerprint, String[] rowIds,
            float[] floats, byte[] codes, double[] invNorms) {
        this.source = source;
        this.dtype = dtype;
        this.dim = dim;
        this.count = count;
        this.fingerprint = fingerprint;
        this.rowIds = rowIds;
        this.floats = floats;
        this.codes = codes;
        this.invNorms = invNorms;
    }

    // ------------------------------------------------------------------------------ reading

    /**
     * Reads an index file.
     *
     * @param file the index file
     * @param expectedFingerprint fingerprint of the model that will embed the queries ({@code
     *     "sha256:<hex>"} or 64 hex digits), or null to skip the check
     * @throws IndexFormatException the file is missing, unreadable, or breaks a rule of the format
     * @throws FingerprintMismatchException the index was built with another model
     */
    public static ProductIndex load(File file, String expectedFingerprint) {
        byte[] data;
        try (InputStream in = new FileInputStream(file)) {
            data = Streams.readAll(in);
        } catch (FileNotFoundException e) {
            throw new IndexFormatException(file + ": index file not found");
        } catch (IOException e) {
            throw new IndexFormatException(file + ": cannot read (" + e.getMessage() + ")");
        }
        return read(data, file.toString(), expectedFingerprint);
    }

    /**
     * Reads an index from a stream (e.g. an Android asset); {@code source} names it in errors.
     *
     * @throws IndexFormatException see {@link #load}
     * @throws FingerprintMismatchException see {@link #load}
     */
    public static ProductIndex read(InputStream in, String source, String expectedFingerprint) {
        try {
            return read(Streams.readAll(in), source, expectedFingerprint);
        } catch (IOException e) {
            throw new IndexFormatException(source + ": cannot read (" + e.getMessage() + ")");
        }
    }

    /**
     * Reads an index held in memory; checks run in the order of INDEX_FORMAT.md section 5.
     *
     * @throws IndexFormatException see {@link #load}
     * @throws FingerprintMismatchException see {@link #load}
     */
    public static ProductIndex read(byte[] data, String source, String expectedFingerprint) {
        byte[] expected = expectedFingerprint == null ? null : fingerprintBytes(expectedFingerprint);
        long size = data.length;
        if (size < 4 || !MAGIC.equals(new String(data, 0, 4, StandardCharsets.ISO_8859_1))) {
            throw fail(source, "not a DeepProduct index (expected magic DPIX)");
        }
        if (size < HEADER_BYTES) {
            throw fail(source, "truncated: " + size + " bytes, the header alone is " + HEADER_BYTES);
        }
        ByteBuffer buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        int version = buf.getShort(VERSION_OFFSET) & 0xFFFF;
        int dtypeCode = buf.get(DTYPE_OFFSET) & 0xFF;
        int flags = buf.get(FLAGS_OFFSET) & 0xFF;
        long dimL = buf.getInt(DIM_OFFSET) & 0xFFFFFFFFL;
        long countL = buf.getInt(COUNT_OFFSET) & 0xFFFFFFFFL;
        if (version != FORMAT_VERSION) {
            throw fail(source, "unsupported index format version " + version + " (this reader supports version "
                    + FORMAT_VERSION + "); rebuild the index or upgrade");
        }
        if (dtypeCode != FLOAT32_CODE && dtypeCode != INT8_CODE) {
            throw fail(source, "unknown dtype code " + dtypeCode + " (0 = float32, 1 = int8)");
        }
        Dtype dtype = dtypeCode == FLOAT32_CODE ? Dtype.FLOAT32 : Dtype.INT8;
        if (flags != 0) {
            throw fail(source, "reserved flags byte is " + flags + ", must be 0");
        }
        if (dimL < 1 || dimL > MAX_DIM) {
            throw fail(source, "dimension " + dimL + " out of range 1.." + MAX_DIM);
        }
        if (countL > MAX_COUNT) {
            throw fail(source, "count " + countL + " exceeds the limit of " + MAX_COUNT);
        }
        int dim = (int) dimL;
        int count = (int) countL;
        if (size < HEADER_BYTES + 2L * count + 4) {
            throw fail(source, "truncated: " + size + " bytes, too short for " + count + " ids");
        }
        int[] lengths = new int[count];
        long blobLen = 0;
        for (int i = 0; i < count; i++) {
            lengths[i] = buf.getShort(HEADER_BYTES + 2 * i) & 0xFFFF;
            blobLen += lengths[i];
        }
        long idsEnd = HEADER_BYTES + 2L * count + blobLen;
        long pad = Math.floorMod(-idsEnd, 4L);
        long itemSize = dtype == Dtype.FLOAT32 ? 4 : 1;
        long vectorsAt = idsEnd + pad;
        long expectedSize = vectorsAt + (long) count * dim * itemSize + 4;
        if (size < expectedSize) {
            throw fail(source, "truncated: " + size + " bytes, the header and ids call for " + expectedSize);
        }
        if (size > expectedSize) {
            throw fail(source, (size - expectedSize) + " unexpected bytes after the checksum");
        }
        CRC32 crc = new CRC32();
        crc.update(data, 0, (int) (size - 4));
        long stored = buf.getInt((int) (size - 4)) & 0xFFFFFFFFL;
        if (stored != crc.getValue()) {
            throw fail(source, String.format(Locale.ROOT,
                    "checksum mismatch (stored CRC-32 %08x, computed %08x): the file is corrupt", stored,
                    crc.getValue()));
        }
        for (long p = idsEnd; p < vectorsAt; p++) {
            if (data[(int) p] != 0) {
                throw fail(source, "padding bytes before the vectors are not zero");
            }
        }
        String[] ids = decodeIds(data, HEADER_BYTES + 2 * count, lengths, source);
        int values = count * dim;
        float[] floats = null;
        byte[] codes = null;
        double[] invNorms = null;
        if (dtype == Dtype.FLOAT32) {
            floats = new float[values];
            buf.position((int) vectorsAt);
            buf.asFloatBuffer().get(floats);
            checkUnitRows(floats, count, dim, source);
        } else {
            codes = new byte[values];
            System.arraycopy(data, (int) vectorsAt, codes, 0, values);
            invNorms = checkCodes(codes, count, dim, source);
        }
        String fingerprint = hex(data, FINGERPRINT_OFFSET, 32);
        if (expected != null && !hex(expected, 0, 32).equals(fingerprint)) {
            throw new FingerprintMismatchException(source + ": index was built with model "
                    + fingerprint.substring(0, 16) + "..., but the queries come from model "
                    + hex(expected, 0, 32).substring(0, 16) + "...; rebuild the index with this model");
        }
        return new ProductIndex(source, dtype, dim, count, fingerprint, ids, floats, codes, invNorms);
    }

    private static String[] decodeIds(byte[] data, int at, int[] lengths, String source) {
        String[] ids = new String[lengths.length];
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 1 || lengths[i] > MAX_ID_BYTES) {
                throw fail(source, "id of row " + i + " is " + lengths[i] + " bytes; ids must be 1 to "
                        + MAX_ID_BYTES);
            }
        }
        for (int i = 0; i < lengths.length; i++) {
            try {
                // Each id on its own: a character split across two ids is refused too.
                CharBuffer chars = utf8.decode(ByteBuffer.wrap(data, at, lengths[i]));
                ids[i] = chars.toString();
            } catch (CharacterCodingException e) {
                throw fail(source, "id of row " + i + " is not valid UTF-8");
            }
            at += lengths[i];
        }
        return ids;
    }

    private static void checkUnitRows(float[] rows, int count, int dim, String source) {
        for (int r = 0; r < count; r++) {
            double sq = 0.0;
            for (int j = 0; j < dim; j++) {
                float v = rows[r * dim + j];
                if (Float.isNaN(v) || Float.isInfinite(v)) {
                    throw fail(source, "float32 row " + r + " has NaN or infinite components");
                }
                sq += (double) v * v;
            }
            double norm = Math.sqrt(sq);
            if (Math.abs(norm - 1.0) > UNIT_NORM_TOLERANCE) {
                throw fail(source, "float32 row " + r + " has norm " + norm + "; rows must be unit length");
            }
        }
    }

    private static double[] checkCodes(byte[] codes, int count, int dim, String source) {
        for (byte c : codes) {
            if (c == Byte.MIN_VALUE) {
                throw fail(source, "int8 code -128 found; codes must be in [-127, 127]");
            }
        }
        double[] inv = new double[count];
        for (int r = 0; r < count; r++) {
            int peak = 0;
            long sq = 0;
            for (int j = 0; j < dim; j++) {
                int c = codes[r * dim + j];
                peak = Math.max(peak, Math.abs(c));
                sq += (long) c * c;
            }
            if (peak != QUANT_LEVELS) {
                throw fail(source, "int8 row " + r + " has largest |code| " + peak
                        + ", the quantization rule makes it " + QUANT_LEVELS);
            }
            inv[r] = 1.0 / Math.sqrt((double) sq);
        }
        return inv;
    }

    private static IndexFormatException fail(String source, String problem) {
        return new IndexFormatException(source + ": " + problem);
    }

    /**
     * The 32 raw bytes of a fingerprint given as 64 hex digits, optionally {@code sha256:}-prefixed.
     *
     * @throws IndexFormatException the text is not such a fingerprint
     */
    static byte[] fingerprintBytes(String fingerprint) {
        Matcher m = FINGERPRINT.matcher(fingerprint);
        if (!m.matches()) {
            throw new IndexFormatException("model fingerprint must be 64 hex digits (sha256), optionally "
                    + "prefixed 'sha256:', got '" + fingerprint + "'");
        }
        String hex = m.group(1);
        byte[] out = new byte[32];
        for (int i = 0; i < 32; i++) {
            out[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    private static String hex(byte[] data, int from, int length) {
        StringBuilder sb = new StringBuilder(2 * length);
        for (int i = from; i < from + length; i++) {
            sb.append(String.format(Locale.ROOT, "%02x", data[i] & 0xFF));
        }
        return sb.toString();
    }

    // --------------------------------------------------------------------------- properties

    /** The name given to the reader (file path or asset name). */
    public String source() {
        return source;
    }

    public Dtype dtype() {
        return dtype;
    }

    /** Embedding length D. */
    public int dimension() {
        return dim;
    }

    /** Number of rows (catalog vectors). */
    public int size() {
        return count;
    }

    /**
     * Model fingerprint as {@code sha256:} and 64 lowercase hex digits, the form of the model
     * metadata's {@code model_fingerprint} (the file stores the 32 raw bytes).
     */
    public String fingerprint() {
        return "sha256:" + fingerprint;
    }

    /** The product id of row {@code row}. */
    public String rowId(int row) {
        return rowIds[row];
    }

    /** Distinct product ids, in order of their first row. */
    public List<String> productIds() {
        return Collections.unmodifiableList(new ArrayList<>(new LinkedHashSet<>(Arrays.asList(rowIds))));
    }

    /**
     * Row {@code row} as a float vector: the stored unit vector (float32), or the int8 codes
     * dequantized to unit length, {@code code_j / sqrt(sum code^2)} (the scale is not stored; the
     * score is the cosine of the codes, so this vector scores like the row).
     */
    public float[] row(int row) {
        float[] out = new float[dim];
        if (dtype == Dtype.FLOAT32) {
            System.arraycopy(floats, row * dim, out, 0, dim);
        } else {
            for (int j = 0; j < dim; j++) {
                out[j] = (float) (codes[row * dim + j] * invNorms[row]);
            }
        }
        return out;
    }

    /** The int8 codes of row {@code row} (a copy); only for {@link Dtype#INT8} indexes. */
    public byte[] codes(int row) {
        if (dtype != Dtype.INT8) {
            throw new IllegalStateException("a float32 index has no int8 codes");
        }
        byte[] out = new byte[dim];
        System.arraycopy(codes, row * dim, out, 0, dim);
        return out;
    }

    // ------------------------------------------------------------------------- quantization

    /**
     * int8 codes of a vector by the rule of INDEX_FORMAT.md section 3: {@code m = max |v_j|},
     * {@code code_j = rint((double) v_j * 127.0 / (double) m)}, halves to even ({@link Math#rint},
     * not {@link Math#round}).
     *
     * @throws IllegalArgumentException the vector is empty, not finite, or all zeros
     */
    public static byte[] quantizeInt8(float[] v) {
        float peak = checkVector(v, v.length, "vector");
        byte[] out = new byte[v.length];
        for (int j = 0; j < v.length; j++) {
            out[j] = (byte) Math.rint((double) v[j] * 127.0 / (double) peak);
        }
        return out;
    }

    /** Unit-length float vector of int8 codes: {@code code_j / sqrt(sum code^2)}. */
    public static float[] dequantizeInt8(byte[] codes) {
        long sq = 0;
        for (byte c : codes) {
            sq += (long) c * c;
        }
        if (sq == 0) {
            throw new IllegalArgumentException("cannot dequantize all-zero codes");
        }
        double inv = 1.0 / Math.sqrt((double) sq);
        float[] out = new float[codes.length];
        for (int j = 0; j < codes.length; j++) {
            out[j] = (float) (codes[j] * inv);
        }
        return out;
    }

    /** Checks length, finiteness and non-zero; returns {@code max |v_j|}. */
    private static float checkVector(float[] v, int dim, String what) {
        if (v == null || v.length != dim || dim == 0) {
            throw new IllegalArgumentException(
                    what + ": expected length " + dim + ", got " + (v == null ? "null" : v.length));
        }
        float peak = 0f;
        for (float x : v) {
            if (Float.isNaN(x) || Float.isInfinite(x)) {
                throw new IllegalArgumentException(what + " has NaN or infinite components");
            }
            peak = Math.max(peak, Math.abs(x));
        }
        if (peak == 0f) {
            throw new IllegalArgumentException(what + " is all zeros");
        }
        return peak;
    }

    // ---------------------------------------------------------------------------- searching

    /**
     * Score of every row against a query, in row order, as {@link #search} ranks them.
     *
     * <p>float32: {@code u = q / |q|} (in double, rounded to float), then a float32 dot product
     * per row widened to double. int8: the query is quantized, then {@code ((double) dot * inv_i)
     * * inv_q} with {@code inv = 1.0 / Math.sqrt(sum code^2)}: bit-exact by INDEX_FORMAT.md.
     *
     * @throws IllegalArgumentException the query has the wrong length, is not finite, or is zero
     */
    public double[] scores(float[] query) {
        checkVector(query, dim, "query vector");
        double[] out = new double[count];
        if (dtype == Dtype.FLOAT32) {
            double sq = 0.0;
            for (float x : query) {
                sq += (double) x * x;
            }
            double norm = Math.sqrt(sq);
            float[] u = new float[dim];
            for (int j = 0; j < dim; j++) {
                u[j] = (float) (query[j] / norm);
            }
            for (int r = 0; r < count; r++) {
                float acc = 0f;
                int base = r * dim;
                for (int j = 0; j < dim; j++) {
                    acc += floats[base + j] * u[j];
                }
                out[r] = acc;
            }
            return out;
        }
        byte[] q = quantizeInt8(query);
        long sq = 0;
        for (byte c : q) {
            sq += (long) c * c;
        }
        double invQ = 1.0 / Math.sqrt((double) sq);
        for (int r = 0; r < count; r++) {
            int dot = 0; // |dot| <= 1024 * 127^2 < 2^24: exact in int
            int base = r * dim;
            for (int j = 0; j < dim; j++) {
                dot += codes[base + j] * q[j];
            }
            out[r] = ((double) dot * invNorms[r]) * invQ;
        }
        return out;
    }

    /** The {@code k} products most similar to {@code query}; see {@link #search(float[], int, double)}. */
    public List<SearchResult> search(float[] query, int k) {
        return search(query, k, Double.NEGATIVE_INFINITY);
    }

    /**
     * The {@code k} products most similar to {@code query}, one result per product.
     *
     * <p>Rows are ordered by score, highest first, equal scores by row index; each product is
     * reported once, at its best row. Rows scoring below {@code minScore} are skipped, so fewer
     * than {@code k} results (none: "no match") come back when fewer products qualify.
     *
     * @param query embedding of length D, finite, not all zero (need not be unit length)
     * @param k at most this many results, {@code >= 1}
     * @param minScore drop results scoring below this ({@code Double.NEGATIVE_INFINITY}: none)
     * @throws IllegalArgumentException bad query, {@code k < 1} or NaN {@code minScore}
     */
    public List<SearchResult> search(float[] query, int k, double minScore) {
        if (k < 1) {
            throw new IllegalArgumentException("k must be a positive int, got " + k);
        }
        if (Double.isNaN(minScore)) {
            throw new IllegalArgumentException("minScore must not be NaN");
        }
        double[] scores = scores(query);
        // The best `want` rows are a prefix of the full order: walk it, and widen it only
        // when it ends before k products are found (many rows per product).
        int want = Math.max(4 * k, 32);
        while (true) {
            int[] order = bestRows(scores, Math.min(want, count));
            List<SearchResult> found = new ArrayList<>(k);
            Set<String> seen = new HashSet<>();
            boolean belowThreshold = false;
            for (int row : order) {
                if (scores[row] < minScore) {
                    belowThreshold = true;
                    break;
                }
                if (seen.add(rowIds[row])) {
                    found.add(new SearchResult(rowIds[row], scores[row]));
                    if (found.size() == k) {
                        break;
                    }
                }
            }
            if (found.size() == k || belowThreshold || order.length == count) {
                return found;
            }
            want *= 8;
        }
    }

    /** The {@code m} best rows by (score descending, row ascending), in that order. */
    private static int[] bestRows(double[] scores, int m) {
        // Bounded min-heap of the best m rows seen, the worst at the root.
        int[] heap = new int[m];
        int size = 0;
        for (int row = 0; row < scores.length && m > 0; row++) {
            if (size < m) {
                heap[size] = row;
                siftUp(heap, size++, scores);
            } else if (better(row, heap[0], scores)) {
                heap[0] = row;
                siftDown(heap, 0, size, scores);
            }
        }
        int[] out = new int[size];
        for (int i = size - 1; i >= 0; i--) {
            out[i] = heap[0];
            heap[0] = heap[i];
            siftDown(heap, 0, i, scores);
        }
        return out;
    }

    private static boolean better(int a, int b, double[] scores) {
        return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    }

    private static void siftUp(int[] heap, int i, double[] scores) {
        while (i > 0) {
            int parent = (i - 1) / 2;
            if (!better(heap[parent], heap[i], scores)) {
                break;
            }
            int t = heap[parent];
            heap[parent] = heap[i];
            heap[i] = t;
            i = parent;
        }
    }

    private static void siftDown(int[] heap, int i, int size, double[] scores) {
        while (true) {
            int worst = i;
            int l = 2 * i + 1;
            int r = l + 1;
            if (l < size && better(heap[worst], heap[l], scores)) {
                worst = l;
            }
            if (r < size && better(heap[worst], heap[r], scores)) {
                worst = r;
            }
            if (worst == i) {
                return;
            }
            int t = heap[worst];
            heap[worst] = heap[i];
            heap[i] = t;
            i = worst;
        }
    }

    @Override
    public String toString() {
        return "ProductIndex(" + source + ", rows=" + count + ", dim=" + dim + ", " + dtype + ", fingerprint="
                + fingerprint.substring(0, 12) + "...)";
    }
}
