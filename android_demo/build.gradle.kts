// Versions are the ones this skeleton was written against (not built here: no Android SDK in CI).
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.0.21" apply false
}
