// DeepProduct Android demo: the app (Kotlin, LiteRT, CameraX) and the plain-Java core it uses.
// The core has no android.* imports; CI tests it with javac + JUnit (core/run_tests.sh).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "deepproduct-demo"
include(":app", ":core")
