package com.deepproduct.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * EXIF orientation: Java's table against PIL's reading of PNG eXIf chunks (the golden files).
 *
 * <p>The bundle gives the stored pixels and the tag; Python checked when writing it that PIL
 * (via {@code image_io.load_image}) applies the table of PREPROCESSING.md section 1.
 */
class ExifOrientationTest {
    @Test
    void rotateClockwiseByHand() {
        // 3 x 2 stored: a b c / d e f  ->  6 (90 degrees clockwise), 2 x 3: d a / e b / f c
        int[] stored = {1, 2, 3, 4, 5, 6};
        ExifOrientation.Pixels p = ExifOrientation.apply(stored, 3, 2, 6);
        assertEquals(2, p.width);
        assertEquals(3, p.height);
        assertArrayEquals(new int[] {4, 1, 5, 2, 6, 3}, p.argb);
        assertArrayEquals(stored, ExifOrientation.apply(stored, 3, 2, 9).argb);
    }

    @TestFactory
    List<DynamicTest> everyOrientationMatchesPil() {
        GoldenBundle g = GoldenBundle.get();
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonObject c : g.objects(g.manifest.getAsJsonArray("orientation_cases"))) {
            tests.add(dynamicTest("orientation " + c.get("orientation").getAsInt(), () -> check(g, c)));
        }
        for (JsonObject in : g.inputs()) {
            if (in.has("stored_argb")) {
                tests.add(dynamicTest(in.get("name").getAsString(), () -> check(g, in)));
            }
        }
        return tests;
    }

    private static void check(GoldenBundle g, JsonObject c) {
        ExifOrientation.Pixels p = ExifOrientation.apply(g.ints(c.get("stored_argb").getAsString()),
                c.get("stored_width").getAsInt(), c.get("stored_height").getAsInt(),
                c.get("orientation").getAsInt());
        assertEquals(c.get("width").getAsInt(), p.width, "oriented width");
        assertEquals(c.get("height").getAsInt(), p.height, "oriented height");
        assertArrayEquals(g.ints(c.get("argb").getAsString()), p.argb, "oriented pixels");
    }
}
