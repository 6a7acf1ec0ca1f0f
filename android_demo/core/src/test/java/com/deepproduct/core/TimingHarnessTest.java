package com.deepproduct.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;

/**
 * Timings of the query path's plain-Java steps (issue 18), printed as "timing: ..." lines in the
 * Java test step of {@code make test}. It asserts results, never times: the figures depend on
 * the machine and its load, and are for reading next to the Python benchmarks.
 */
class TimingHarnessTest {
    private static final PreprocessConfig CONFIG =
            new PreprocessConfig(224, 0.875, new double[] {127, 127, 127}, new double[] {128, 128, 128},
                    "triangle-fixed14");
    private static final int RUNS = 15;
    private static final int WARMUP = 10; // untimed first runs, so the JIT has compiled the code

    /**
     * The three frame sizes warmed up and timed round-robin. Timed one size after another, the
     * first size's median for 1280x960 read 6.1 ms with only this class in the JVM, 7.6 ms after
     * the other core tests and 13 ms inside make test (the JIT compiles the shared loops for what
     * it has seen); round-robin: 4.8 ms twice after the other core tests.
     */
    @Test
    void preprocessCameraFrames() {
        Preprocessor pre = new Preprocessor(CONFIG);
        int[][] sizes = {{1280, 960}, {640, 480}, {4032, 3024}};
        int[][] frames = new int[sizes.length][];
        float[][] first = new float[sizes.length][];
        for (int s = 0; s < sizes.length; s++) {
            frames[s] = photoLike(sizes[s][0], sizes[s][1], 7);
            first[s] = pre.preprocess(frames[s], sizes[s][0], sizes[s][1]);
            assertEquals(224 * 224 * 3, first[s].length);
        }
        for (int i = 0; i < WARMUP; i++) {
            for (int s = 0; s < sizes.length; s++) {
                pre.preprocess(frames[s], sizes[s][0], sizes[s][1]);
            }
        }
        double[][] ms = new double[sizes.length][RUNS];
        for (int i = 0; i < RUNS; i++) {
            for (int s = 0; s < sizes.length; s++) {
                long t0 = System.nanoTime();
                float[] again = pre.preprocess(frames[s], sizes[s][0], sizes[s][1]);
                ms[s][i] = (System.nanoTime() - t0) / 1e6;
                assertEquals(first[s][12345], again[12345]);
            }
        }
        for (int s = 0; s < sizes.length; s++) {
            System.out.printf("timing: Java preprocess %dx%d -> 224x224: median %.2f ms of %d%n",
                    sizes[s][0], sizes[s][1], median(ms[s]), RUNS);
        }
    }

    @Test
    void int8SearchOf100kRows() {
        int count = 100_000;
        int dim = 256;
        ProductIndex index = ProductIndex.read(int8Index(count, dim, 3), "<timing>", null);
        Random rng = new Random(5);
        float[] query = new float[dim];
        for (int j = 0; j < dim; j++) {
            query[j] = (float) rng.nextGaussian();
        }
        List<SearchResult> first = index.search(query, 5);
        assertEquals(5, first.size());
        for (int i = 0; i < WARMUP; i++) {
            index.search(query, 5);
        }
        double[] ms = new double[RUNS];
        for (int i = 0; i < RUNS; i++) {
            long t0 = System.nanoTime();
            List<SearchResult> again = index.search(query, 5);
            ms[i] = (System.nanoTime() - t0) / 1e6;
            assertEquals(first, again);
        }
        System.out.printf("timing: Java int8 search %,d x %d, k=5: median %.2f ms of %d%n", count, dim,
                median(ms), RUNS);
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    /** Smooth colour fields plus noise, opaque ARGB. */
    private static int[] photoLike(int w, int h, long seed) {
        Random rng = new Random(seed);
        int[] argb = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = (x * 255 / w + rng.nextInt(25)) & 0xFF;
                int g = (y * 255 / h + rng.nextInt(25)) & 0xFF;
                int b = ((x + y) * 127 / (w + h) + rng.nextInt(25)) & 0xFF;
                argb[y * w + x] = 0xFF000000 | (r << 16) | (g << 8) | b;
            }
        }
        return argb;
    }

    /** An INDEX_FORMAT.md int8 file: ids "p0000000"..., random codes with a +-127 peak per row. */
    private static byte[] int8Index(int count, int dim, long seed) {
        Random rng = new Random(seed);
        int idBytes = 8;
        int head = 48 + 2 * count + idBytes * count;
        int pad = (4 - head % 4) % 4;
        ByteBuffer buf = ByteBuffer.allocate(head + pad + count * dim + 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.put("DPIX".getBytes(StandardCharsets.US_ASCII)).putShort((short) 1).put((byte) 1).put((byte) 0);
        buf.putInt(dim).putInt(count).put(new byte[32]);
        for (int r = 0; r < count; r++) {
            buf.putShort((short) idBytes);
        }
        for (int r = 0; r < count; r++) {
            buf.put(String.format("p%07d", r).getBytes(StandardCharsets.US_ASCII));
        }
        buf.put(new byte[pad]);
        byte[] row = new byte[dim];
        for (int r = 0; r < count; r++) {
            for (int j = 0; j < dim; j++) {
                row[j] = (byte) (rng.nextInt(255) - 127);
            }
            row[rng.nextInt(dim)] = (byte) (rng.nextBoolean() ? 127 : -127);
            buf.put(row);
        }
        CRC32 crc = new CRC32();
        crc.update(buf.array(), 0, buf.position());
        buf.putInt((int) crc.getValue());
        return buf.array();
    }
}
