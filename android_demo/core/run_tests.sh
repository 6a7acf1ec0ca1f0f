#!/usr/bin/env bash
# Compile the plain-Java core and its JUnit 5 tests with javac, run them against a golden
# bundle (written by `deepproduct golden`) and the format specs in mobile_sdk/formats/,
# without Gradle or an Android SDK.
#
#   android_demo/core/run_tests.sh [--allow-skip] GOLDEN_DIR
#
# Needs javac/java >= 17 and Debian's jars: apt-get install -y junit5 libgoogle-gson-java
# (override the paths with JUNIT_CONSOLE_JAR / GSON_JAR). Prints "java core tests: N run, ..."
# and exits non-zero when a test fails. When a tool is missing it prints "skipped: <why>" and
# exits 3, or 0 with --allow-skip.
set -euo pipefail

allow_skip=0
if [[ "${1:-}" == "--allow-skip" ]]; then
    allow_skip=1
    shift
fi
if [[ $# -ne 1 ]]; then
    echo "usage: $0 [--allow-skip] GOLDEN_DIR" >&2
    exit 2
fi
golden=$(cd "$1" 2>/dev/null && pwd) || { echo "error: golden bundle folder not found: $1" >&2; exit 2; }
if [[ ! -f "$golden/manifest.json" ]]; then
    echo "error: $golden has no manifest.json (write it with 'deepproduct golden')" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
junit=${JUNIT_CONSOLE_JAR:-/usr/share/java/junit-platform-console-standalone.jar}
gson=${GSON_JAR:-/usr/share/java/gson.jar}

skip() {
    echo "skipped: $1"
    if [[ $allow_skip -eq 1 ]]; then exit 0; fi
    exit 3
}
command -v javac >/dev/null || skip "javac not found (install a JDK >= 17)"
command -v java >/dev/null || skip "java not found (install a JDK >= 17)"
[[ -f "$junit" ]] || skip "JUnit console launcher not found at $junit (apt-get install -y junit5)"
[[ -f "$gson" ]] || skip "Gson not found at $gson (apt-get install -y libgoogle-gson-java)"

# Gradle (the app build) owns build/classes etc.; this script keeps to build/javac.
out="$here/build/javac"
rm -rf "$out"
mkdir -p "$out/main" "$out/test"
find "$here/src/main/java" -name '*.java' > "$out/main-sources.txt"
find "$here/src/test/java" -name '*.java' > "$out/test-sources.txt"
javac --release 17 -Xlint:all -Werror -encoding UTF-8 -d "$out/main" -cp "$gson" @"$out/main-sources.txt"
javac --release 17 -encoding UTF-8 -d "$out/test" -cp "$out/main:$gson:$junit" @"$out/test-sources.txt"

set +e
formats=$(cd "$here/../../mobile_sdk/formats" && pwd)
java -Dgolden.dir="$golden" -Dformats.dir="$formats" -Dfile.encoding=UTF-8 -jar "$junit" \
    --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests \
    --class-path "$out/main:$out/test:$here/src/test/resources:$gson" --scan-class-path "$out/test" 2>&1 | tee "$out/junit.log"
status=${PIPESTATUS[0]}
set -e

count() { grep -Eo "\[ *[0-9]+ tests $1 *\]" "$out/junit.log" | grep -Eo '[0-9]+' | head -1; }
echo "java core tests: $(count found) run, $(count successful) passed, $(count failed) failed" \
    "(golden bundle: $golden)"
exit "$status"
