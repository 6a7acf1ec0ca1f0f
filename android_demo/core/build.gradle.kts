// Plain Java library: preprocessing, model metadata, product index and search. No Android
// APIs, so it runs (and is tested) on any JVM. CI runs the same tests without Gradle:
// core/run_tests.sh GOLDEN_DIR (see android_demo/README.md).
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

dependencies {
    // Same version line as Debian's libgoogle-gson-java (2.10), which run_tests.sh uses.
    implementation("com.google.code.gson:gson:2.10.1")
    testImplementation("org.junit.jupiter:junit-jupiter:5.9.2")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

tasks.test {
    useJUnitPlatform()
    // ./gradlew :core:test -PgoldenDir=/path/to/bundle   (write it with `deepproduct golden`)
    systemProperty("golden.dir", providers.gradleProperty("goldenDir").getOrElse(""))
}
