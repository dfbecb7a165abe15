#!/usr/bin/env bash
# Builds barenet's C core with AddressSanitizer + UndefinedBehaviorSanitizer into its own
# virtual environment (.venv-asan, build dir build/asan: the normal build/ and venvs are left
# alone) and runs the whole test suite under them with the compiled backend required.
# Fails on a failing test or on any sanitizer report, in pytest's process or in a subprocess.
#
#   scripts/sanitize.sh [pytest arguments...]      e.g. scripts/sanitize.sh -x tests/test_io.py
#
# Environment: BARENET_ASAN_VENV (default .venv-asan), BARENET_ASAN_FRESH=1 recreates it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${BARENET_ASAN_VENV:-.venv-asan}
BUILD_DIR=build/asan
REPORTS=$ROOT/$BUILD_DIR/reports       # sanitizer reports, one file per process that had one
LOG=$ROOT/$BUILD_DIR/pytest.log
SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
start=$(date +%s)

if [ "${BARENET_ASAN_FRESH:-0}" = 1 ] || [ ! -x "$VENV/bin/python" ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi
. "$VENV/bin/activate"
# RelWithDebInfo (-O2 -g) and no stripping, so reports carry file:line. The extension
# links the sanitizer runtimes itself (MODULE_LINKER_FLAGS); the ASan runtime must still
# come first in the process, hence LD_PRELOAD below (python itself is not instrumented).
pip install -q --disable-pip-version-check ".[test]" "hypothesis>=6" \
    -Cbuild-dir="$BUILD_DIR" \
    -Ccmake.build-type=RelWithDebInfo -Cinstall.strip=false \
    -Ccmake.define.CMAKE_C_FLAGS="$SAN_FLAGS" \
    -Ccmake.define.CMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -Ccmake.define.CMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined"

echo "sanitize.sh: built and installed in $(( $(date +%s) - start )) s"
core=$(python -c "import importlib.util as u; print(u.find_spec('barenet._core').origin)")
case "$core" in
    "$ROOT/$VENV"/*) ;;
    *) echo "sanitize.sh: barenet._core resolves to $core, not the ASan build" >&2; exit 1 ;;
esac
if ! ldd "$core" | grep libasan >/dev/null; then  # not -q: an early exit would SIGPIPE ldd (pipefail)
    echo "sanitize.sh: $core is not linked against libasan" >&2; exit 1
fi

rm -rf "$REPORTS" && mkdir -p "$REPORTS"
export BARENET_BACKEND=compiled
# libstdc++ is preloaded too: C++ extensions that tests import later (matplotlib's
# ft2font) throw exceptions, and ASan's __cxa_throw interceptor fails a CHECK when the real
# __cxa_throw was not loaded at start-up.
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
export LD_PRELOAD
# detect_leaks=0: the interpreter's own allocations at exit are not ours.
# allocator_may_return_null=1: a huge allocation becomes NumPy's MemoryError, as without ASan.
# log_path: reports of every process (subprocess tests capture stderr) land in $REPORTS.
ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=0:halt_on_error=1"
export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan"

set +e
# Every test runs under the sanitizers (the fork and subprocess tests inherit LD_PRELOAD and
# the options above) except tests/test_memory.py: ASan keeps freed memory in quarantine
# (256 MiB) and adds shadow memory, so resident-size growth measures ASan, not barenet.
python -m pytest -q -p no:cacheprovider tests --ignore=tests/test_memory.py "$@" 2>&1 \
    | tee "$LOG"
status=${PIPESTATUS[0]}
set -e

found=0
if compgen -G "$REPORTS/*" >/dev/null; then
    echo "sanitize.sh: sanitizer reports:" >&2
    for f in "$REPORTS"/*; do echo "== $f" >&2; cat "$f" >&2; done
    found=1
fi
if grep -qE "runtime error|AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer" "$LOG"; then
    echo "sanitize.sh: sanitizer output in the test log ($LOG)" >&2
    found=1
fi
echo "sanitize.sh: pytest exit $status," \
     "sanitizer reports: $([ $found = 1 ] && echo yes || echo none)," \
     "$(( $(date +%s) - start )) s"
[ "$status" = 0 ] && [ "$found" = 0 ]
