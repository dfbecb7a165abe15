#!/usr/bin/env bash
# The pure-Python install: BARENET_PURE=1 makes `pip install` skip CMake and the C compiler
# entirely and install barenet as a py3-none-any package that runs on its NumPy backend.
# This script proves it in a fresh virtual environment: the compiler is made unusable
# (CC points nowhere, so any attempt to compile fails), the installed package must contain
# no extension module, barenet.info() must report the NumPy backend, and the test suite
# runs with BARENET_BACKEND=numpy (its compiled cases skip).
#
#   scripts/pure_install.sh
#   PYTHON=python3.10 PYTEST_ARGS="-x -q" scripts/pure_install.sh
set -euo pipefail

WORK_NAME=pure
# shellcheck source=scripts/_common.sh
. "$(dirname "$0")/_common.sh"

step "fresh venv"
"$PYTHON" -m venv "$WORK/venv"
py="$WORK/venv/bin/python"

step "BARENET_PURE=1 pip wheel (no compiler: CC=/nonexistent/cc)"
BARENET_PURE=1 CC=/nonexistent/cc CXX=/nonexistent/c++ \
    "$py" -m pip wheel "$ROOT" --no-deps -w "$WORK/dist" --disable-pip-version-check \
    --config-settings=build-dir="$WORK/build"
wheel=$(ls "$WORK"/dist/barenet-*.whl)
echo "wheel: $(basename "$wheel") ($(stat -c %s "$wheel") bytes)"
"$py" - "$wheel" <<'EOF'
import sys, zipfile
wheel = sys.argv[1]
assert wheel.endswith("-py3-none-any.whl"), f"not a pure wheel: {wheel}"
names = zipfile.ZipFile(wheel).namelist()
binary = [n for n in names if n.endswith((".so", ".pyd", ".dll", ".dylib", ".pyx", ".c"))]
assert not binary, f"the pure wheel contains {binary}"
assert "barenet/__init__.py" in names and "barenet/_numpy_backend.py" in names
print(f"pure wheel: {len(names)} files, no extension module")
EOF

step "pip install the pure wheel with [test]"
"$py" -m pip install -q --disable-pip-version-check "$wheel[test]"

step "the same install straight from the source tree, as the README says"
# (no wheel cache: pip must run the build backend again, still without a compiler)
BARENET_PURE=1 CC=/nonexistent/cc "$py" -m pip install -q --disable-pip-version-check \
    --no-deps --force-reinstall --no-cache-dir --config-settings=build-dir="$WORK/build2" "$ROOT"

step "installed package: no extension, NumPy backend"
mkdir -p "$WORK/run"
cd "$WORK/run"   # not the source tree
export BARENET_BACKEND=numpy
"$py" - "$ROOT" <<'EOF'
import os, sys
import barenet
from barenet import _backend
root = sys.argv[1]
pkg = os.path.dirname(barenet.__file__)
assert not pkg.startswith(root), f"imported from the source tree: {pkg}"
ext = [f for f in os.listdir(pkg) if f.startswith("_core") and f.endswith((".so", ".pyd"))]
assert not ext, f"an extension module was installed: {ext}"
error = _backend._try_compiled()
assert error is not None and error[0] == "absent", error
try:
    from barenet._info import info
except ImportError:
    info = None
if info is not None:
    facts = info()
    assert facts["backend"] == "numpy" and not facts["compiled_available"], facts
print("pure barenet from", pkg, "- compiled backend absent:", error[1])
EOF
"$py" -m barenet info
# auto falls back quietly; compiled must be refused with a clear error
BARENET_BACKEND=auto "$py" -c "import barenet, numpy as np; \
net = barenet.NeuralNetwork([2, 4, 1], seed=0); \
net.train(np.array([[0,0],[0,1],[1,0],[1,1]]), np.array([[0],[1],[1],[0]]), epochs=50, \
learning_rate=0.5, verbose=False); print('auto ->', net.backend)"
if BARENET_BACKEND=compiled "$py" -c "import barenet; barenet.NeuralNetwork([2, 1])" 2>"$WORK/err"; then
    echo "FAIL: BARENET_BACKEND=compiled did not fail on a pure install" >&2; exit 1
fi
grep -q "compiled backend was requested" "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
echo "BARENET_BACKEND=compiled is refused: $(tail -1 "$WORK/err")"

step "test suite (BARENET_BACKEND=numpy)"
# shellcheck disable=SC2086
"$py" -m pytest "$ROOT/tests" -p no:cacheprovider ${PYTEST_ARGS:--q -rfE}

step "done: $((SECONDS - start)) s"
