package com.deepproduct.core;

/**
 * Applies an EXIF Orientation value to ARGB pixels (PREPROCESSING.md section 1, step 3).
 *
 * <p>Android's {@code BitmapFactory} does not apply EXIF orientation. The app reads the tag with
 * {@code androidx.exifinterface.media.ExifInterface} and calls {@link #apply} on the pixels of
 * {@code Bitmap.getPixels} before preprocessing, so the core sees the photo as Python does.
 */
public final class ExifOrientation {
    private ExifOrientation() {}

    /** Pixels with their size. */
    public static final class Pixels {
        public final int[] argb;
        public final int width;
        public final int height;

        public Pixels(int[] argb, int width, int height) {
            this.argb = argb;
            this.width = width;
            this.height = height;
        }
    }

    /**
     * Transforms stored pixels as the orientation value says.
     *
     * @param argb stored pixels, row-major, stride = width
     * @param width stored width
     * @param height stored height
     * @param orientation EXIF value; 2..8 transform (5..8 swap width and height), any other value
     *     returns the pixels unchanged (a copy)
     * @return the oriented pixels
     * @throws IllegalArgumentException {@code argb.length != width * height}
     */
    public static Pixels apply(int[] argb, int width, int height, int orientation) {
        if (width < 1 || height < 1 || (long) width * height != argb.length) {
            throw new IllegalArgumentException(
                    "argb holds " + argb.length + " pixels, not " + width + "x" + height);
        }
        boolean swap = orientation >= 5 && orientation <= 8;
        int outW = swap ? height : width;
        int outH = swap ? width : height;
        int[] out = new int[argb.length];
        for (int y = 0; y < outH; y++) {
            for (int x = 0; x < outW; x++) {
                int sx;
                int sy;
                switch (orientation) {
                    case 2: sx = width - 1 - x; sy = y; break;                 // mirror left-right
                    case 3: sx = width - 1 - x; sy = height - 1 - y; break;    // rotate 180
                    case 4: sx = x; sy = height - 1 - y; break;                // mirror top-bottom
                    case 5: sx = y; sy = x; break;                             // transpose
                    case 6: sx = y; sy = height - 1 - x; break;                // rotate 90 clockwise
                    case 7: sx = width - 1 - y; sy = height - 1 - x; break;    // transverse
                    case 8: sx = width - 1 - y; sy = x; break;                 // rotate 90 counter-clockwise
                    default: sx = x; sy = y; break;
                }
                out[y * outW + x] = argb[sy * width + sx];
            }
        }
        return new Pixels(out, outW, outH);
    }
}
