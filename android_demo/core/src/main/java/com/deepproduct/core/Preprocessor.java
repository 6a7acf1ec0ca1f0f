package com.deepproduct.core;

/**
 * Photo pixels to model input, bit-exact with {@code mobile_sdk/preprocess.py}.
 *
 * <p>Input: ARGB pixels as {@code Bitmap.getPixels} returns them (row-major {@code 0xAARRGGBB},
 * straight alpha), already oriented ({@link ExifOrientation}). Steps (PREPROCESSING.md sections
 * 1-6): alpha over white, optional region of interest, {@code triangle-fixed14} resize of the
 * short side to S, centre crop N x N, float32 {@code (x - mean) / std}, NHWC RGB.
 *
 * <p>Only the kept N x N pixels are computed, and the horizontal pass runs only on the input
 * rows the vertical pass reads: each output depends only on its own taps, so this is
 * bit-identical to resizing everything and cropping.
 */
public final class Preprocessor {
    private static final int HALF = 1 << (ResizeWeights.BITS - 1);

    private final PreprocessConfig config;
    private final float[] mean = new float[3];
    private final float[] std = new float[3];

    public Preprocessor(PreprocessConfig config) {
        this.config = config;
        double[] m = config.mean();
        double[] s = config.std();
        for (int c = 0; c < 3; c++) {
            mean[c] = (float) m[c]; // the JSON double rounded to the nearest float
            std[c] = (float) s[c];
        }
    }

    public PreprocessConfig config() {
        return config;
    }

    /** The resize and crop geometry for a {@code width x height} image. */
    public ResizePlan plan(int width, int height) {
        return ResizePlan.of(width, height, config);
    }

    /**
     * The model input for a whole image.
     *
     * @param argb oriented pixels, row-major, stride = width
     * @return float32 NHWC without the batch axis: {@code N * N * 3} values
     * @throws IllegalArgumentException the array does not hold {@code width * height} pixels, or
     *     the image is more than 256 times the resized size on an axis
     */
    public float[] preprocess(int[] argb, int width, int height) {
        return normalize(resizeAndCrop(argb, width, height));
    }

    /**
     * The model input for a region of interest: {@code (left, top, regionWidth, regionHeight)}
     * in pixels of the oriented image; it must lie inside the image and be non-empty.
     */
    public float[] preprocess(int[] argb, int width, int height, int left, int top, int regionWidth,
            int regionHeight) {
        return normalize(resizeAndCrop(argb, width, height, left, top, regionWidth, regionHeight));
    }

    /** The resized, cropped 8-bit RGB pixels ({@code N * N * 3} bytes, HWC, unsigned). */
    public byte[] resizeAndCrop(int[] argb, int width, int height) {
        return resizeAndCrop(argb, width, height, 0, 0, width, height);
    }

    /** {@link #resizeAndCrop(int[], int, int)} of a region of interest. */
    public byte[] resizeAndCrop(int[] argb, int width, int height, int left, int top, int regionWidth,
            int regionHeight) {
        if (width < 1 || height < 1 || (long) width * height != argb.length) {
            throw new IllegalArgumentException(
                    "argb holds " + argb.length + " pixels, not " + width + "x" + height);
        }
        if (regionWidth < 1 || regionHeight < 1 || left < 0 || top < 0
                || (long) left + regionWidth > width || (long) top + regionHeight > height) {
            throw new IllegalArgumentException("roi (" + left + ", " + top + ", " + regionWidth + ", "
                    + regionHeight + ") is outside the " + width + "x" + height + " image");
        }
        ResizePlan plan = plan(regionWidth, regionHeight);
        int n = plan.size;
        ResizeWeights wx = regionWidth == plan.resizedWidth ? null
                : ResizeWeights.compute(regionWidth, plan.resizedWidth);
        ResizeWeights wy = regionHeight == plan.resizedHeight ? null
                : ResizeWeights.compute(regionHeight, plan.resizedHeight);

        // Region rows the vertical pass reads.
        int rowLo;
        int rowHi;
        if (wy == null) {
            rowLo = plan.top;
            rowHi = plan.top + n - 1;
        } else {
            rowLo = Integer.MAX_VALUE;
            rowHi = -1;
            for (int y = plan.top; y < plan.top + n; y++) {
                rowLo = Math.min(rowLo, wy.first(y));
                rowHi = Math.max(rowHi, wy.first(y) + wy.weightsNoCopy(y).length - 1);
            }
        }

        // Horizontal pass: 8-bit intermediate, (rowHi - rowLo + 1) rows x n columns x RGB.
        // Each source row's columns colLo..colHi are unpacked once (alpha over white) into
        // planar R, G, B rows; the taps then read plain int arrays.
        int colLo = wx == null ? plan.left : wx.first(plan.left);
        int colHi = wx == null ? plan.left + n - 1 : colLo;
        if (wx != null) {
            for (int x = plan.left; x < plan.left + n; x++) {
                colHi = Math.max(colHi, wx.first(x) + wx.weightsNoCopy(x).length - 1);
            }
        }
        int cols = colHi - colLo + 1;
        int[] red = new int[cols];
        int[] green = new int[cols];
        int[] blue = new int[cols];
        int rows = rowHi - rowLo + 1;
        int[] mid = new int[rows * n * 3];
        for (int r = 0; r < rows; r++) {
            int rowStart = (top + rowLo + r) * width + left + colLo;
            unpackRow(argb, rowStart, cols, red, green, blue);
            int o = r * n * 3;
            for (int x = 0; x < n; x++, o += 3) {
                int ox = plan.left + x;
                if (wx == null) {
                    mid[o] = red[ox - colLo];
                    mid[o + 1] = green[ox - colLo];
                    mid[o + 2] = blue[ox - colLo];
                    continue;
                }
                int[] q = wx.weightsNoCopy(ox);
                int src = wx.first(ox) - colLo;
                int accR = HALF;
                int accG = HALF;
                int accB = HALF;
                for (int t = 0; t < q.length; t++) {
                    int w = q[t];
                    accR += w * red[src + t];
                    accG += w * green[src + t];
                    accB += w * blue[src + t];
                }
                mid[o] = accR >> ResizeWeights.BITS;
                mid[o + 1] = accG >> ResizeWeights.BITS;
                mid[o + 2] = accB >> ResizeWeights.BITS;
            }
        }

        // Vertical pass, a row at a time: each tap adds a whole intermediate row (sequential
        // reads, a loop the JIT vectorises) to the output row's accumulators.
        int rowLen = n * 3;
        byte[] out = new byte[n * rowLen];
        int[] acc = new int[rowLen];
        for (int y = 0; y < n; y++) {
            int oy = plan.top + y;
            if (wy == null) {
                int from = (oy - rowLo) * rowLen;
                for (int i = 0; i < rowLen; i++) {
                    out[y * rowLen + i] = (byte) mid[from + i];
                }
                continue;
            }
            int[] q = wy.weightsNoCopy(oy);
            int firstRow = wy.first(oy) - rowLo;
            java.util.Arrays.fill(acc, HALF);
            for (int t = 0; t < q.length; t++) {
                int w = q[t];
                int base = (firstRow + t) * rowLen;
                for (int i = 0; i < rowLen; i++) {
                    acc[i] += w * mid[base + i];
                }
            }
            int to = y * rowLen;
            for (int i = 0; i < rowLen; i++) {
                out[to + i] = (byte) (acc[i] >> ResizeWeights.BITS);
            }
        }
        return out;
    }

    /**
     * Per-channel {@code (float(x) - float(mean[c])) / float(std[c])}: one float subtraction,
     * one float division (PREPROCESSING.md section 5).
     *
     * @param rgb 8-bit RGB values (read unsigned), channel last
     * @return the float32 values, same layout
     */
    public float[] normalize(byte[] rgb) {
        if (rgb.length % 3 != 0) {
            throw new IllegalArgumentException("rgb length " + rgb.length + " is not a multiple of 3");
        }
        float[] out = new float[rgb.length];
        for (int i = 0; i < rgb.length; i++) {
            int c = i % 3;
            out[i] = ((float) (rgb[i] & 0xFF) - mean[c]) / std[c];
        }
        return out;
    }

    /** {@code count} ARGB pixels from {@code argb[start]} to planar 8-bit R, G, B ({@link #toRgb}). */
    private static void unpackRow(int[] argb, int start, int count, int[] red, int[] green,
            int[] blue) {
        int[] rgb = new int[3];
        for (int i = 0; i < count; i++) {
            int pixel = argb[start + i];
            if (pixel >>> 24 == 255) {
                red[i] = (pixel >> 16) & 0xFF;
                green[i] = (pixel >> 8) & 0xFF;
                blue[i] = pixel & 0xFF;
            } else {
                toRgb(pixel, rgb);
                red[i] = rgb[0];
                green[i] = rgb[1];
                blue[i] = rgb[2];
            }
        }
    }

    /**
     * One ARGB pixel to 8-bit RGB: straight alpha composited on white,
     * {@code c' = (c * a + 255 * (255 - a) + 127) / 255} (exact for {@code a = 255}).
     */
    static void toRgb(int pixel, int[] rgb) {
        int a = pixel >>> 24;
        int r = (pixel >> 16) & 0xFF;
        int g = (pixel >> 8) & 0xFF;
        int b = pixel & 0xFF;
        if (a != 255) {
            int white = 255 * (255 - a) + 127;
            r = (r * a + white) / 255;
            g = (g * a + white) / 255;
            b = (b * a + white) / 255;
        }
        rgb[0] = r;
        rgb[1] = g;
        rgb[2] = b;
    }
}
