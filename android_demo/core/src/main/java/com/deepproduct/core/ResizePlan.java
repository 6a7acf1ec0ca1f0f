package com.deepproduct.core;

/**
 * Integer geometry of the resize and centre crop (PREPROCESSING.md section 3).
 *
 * <p>The whole image is resized to {@code resizedWidth x resizedHeight}; the {@code size x size}
 * square at ({@code left}, {@code top}) is kept.
 */
public final class ResizePlan {
    public final int resizedWidth;
    public final int resizedHeight;
    public final int left;
    public final int top;
    public final int size;

    ResizePlan(int resizedWidth, int resizedHeight, int left, int top, int size) {
        this.resizedWidth = resizedWidth;
        this.resizedHeight = resizedHeight;
        this.left = left;
        this.top = top;
        this.size = size;
    }

    /**
     * The plan for a {@code width x height} image.
     *
     * @throws IllegalArgumentException a size is not positive
     */
    public static ResizePlan of(int width, int height, PreprocessConfig config) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + width + "x" + height);
        }
        int n = config.inputSize();
        long s = config.resizedShortSide();
        // 64-bit: 2 * long * S exceeds 2^31 for large photos.
        long w = width;
        long h = height;
        long newW;
        long newH;
        if (w <= h) {
            newW = s;
            newH = (2 * h * s + w) / (2 * w);
        } else {
            newW = (2 * w * s + h) / (2 * h);
            newH = s;
        }
        if (newW > Integer.MAX_VALUE || newH > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("image " + width + "x" + height + " is too elongated");
        }
        return new ResizePlan((int) newW, (int) newH, (int) ((newW - n) / 2), (int) ((newH - n) / 2), n);
    }

    /**
     * The reduced-scale JPEG decoding factor (PREPROCESSING.md section 1, "Reduced-scale
     * decoding"): the largest of 8, 4, 2 with {@code min(width, height) / d >= S}, else 1, where
     * {@code S} is the config's resized short side. Android: {@code BitmapFactory.Options
     * .inSampleSize}; a photo is decoded smaller only when it is at least twice that size.
     *
     * @param width stored width from the header (orientation does not matter: the scale is
     *     uniform)
     * @param height stored height
     * @throws IllegalArgumentException a size is not positive
     */
    public static int decodeScale(int width, int height, PreprocessConfig config) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + width + "x" + height);
        }
        int shortSide = Math.min(width, height);
        long s = config.resizedShortSide();
        for (int d = 8; d >= 2; d /= 2) {
            if (shortSide / d >= s) {
                return d;
            }
        }
        return 1;
    }

    @Override
    public String toString() {
        return "ResizePlan(" + resizedWidth + "x" + resizedHeight + ", left=" + left + ", top=" + top
                + ", size=" + size + ")";
    }
}
