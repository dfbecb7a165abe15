#!/usr/bin/env bash
# The source distribution: `python -m build --sdist` must hold everything a build and the
# tests need (every tracked file under csrc/, src/, tests/, examples/, the C sources
# CMakeLists.txt names, pyproject.toml, README.md) and nothing a build, a venv, a cache or a
# CI run leaves behind. Then a wheel is built from the sdist alone in a fresh virtual
# environment, installed, and smoke-tested with the compiled backend required: import,
# `python -m barenet info`, barenet.info() and a tiny training run.
#
#   scripts/check_sdist.sh                 # the sdist lands in dist/
#   PYTHON=python3.12 DIST=/tmp/out scripts/check_sdist.sh
set -euo pipefail

WORK_NAME=sdist
# shellcheck source=scripts/_common.sh
. "$(dirname "$0")/_common.sh"
DIST="${DIST:-$ROOT/dist}"

step "python -m build --sdist"
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q --disable-pip-version-check build
"$WORK/tools/bin/python" -m build --sdist --outdir "$WORK/sdist" "$ROOT"
sdist=$(ls "$WORK"/sdist/barenet-*.tar.gz)
mkdir -p "$DIST"
cp "$sdist" "$DIST/"
echo "sdist: $DIST/$(basename "$sdist") ($(stat -c %s "$sdist") bytes)"

step "sdist contents"
tar tzf "$sdist" | sort > "$WORK/contents.txt"
tracked="$WORK/tracked.txt"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -- csrc src tests examples > "$tracked"
else
    : > "$tracked"   # not a git checkout (e.g. run from an unpacked sdist): fixed list only
fi
"$WORK/tools/bin/python" - "$WORK/contents.txt" "$tracked" "$ROOT/CMakeLists.txt" <<'EOF'
import re, sys
contents_file, tracked_file, cmakelists = sys.argv[1:]
names = [line.strip() for line in open(contents_file) if line.strip()]
prefix = names[0].split("/")[0] + "/"
files = {n[len(prefix):] for n in names if n.startswith(prefix) and not n.endswith("/")}
print(f"{len(files)} files; top level: {', '.join(sorted({f.split('/')[0] for f in files}))}")

required = {"pyproject.toml", "CMakeLists.txt", "README.md", "PKG-INFO",
            "src/barenet/__init__.py", "src/barenet/_core.pyx", "src/barenet/_core.pyi",
            "src/barenet/_backend.py", "src/barenet/_numpy_backend.py",
            "tests/conftest.py", "examples/xor.py"}
required |= {line.strip() for line in open(tracked_file) if line.strip()}
required |= set(re.findall(r"\bcsrc/[\w.]+\.(?:c|h|inc)\b", open(cmakelists).read()))
missing = sorted(required - files)

junk_dirs = re.compile(r"(^|/)(build|dist|wheelhouse|\.venv[^/]*|\.ci-venv|venv|__pycache__|"
                       r"\.pytest_cache|\.ruff_cache|\.mypy_cache|\.benchmarks|\.git|"
                       r"[^/]*\.egg-info|_skbuild)/")
junk_files = re.compile(r"\.(pyc|pyo|so|pyd|dylib|dll|o|obj|a|lib|whl|tar\.gz)$")
junk = sorted(f for f in files if junk_dirs.search(f) or junk_files.search(f)
              or f == "src/barenet/_core.c")
for f in missing:
    print("MISSING:", f)
for f in junk:
    print("JUNK:   ", f)
if missing or junk:
    sys.exit(f"FAIL: {len(missing)} required files missing, {len(junk)} junk files in the sdist")
print(f"all {len(required)} required files present, no build/venv/cache files")
EOF

step "fresh venv: pip wheel from the sdist alone, then install it"
"$PYTHON" -m venv "$WORK/venv"
py="$WORK/venv/bin/python"
"$py" -m pip wheel "$sdist" --no-deps -w "$WORK/wheel" --disable-pip-version-check
wheel=$(ls "$WORK"/wheel/barenet-*.whl)
echo "wheel from the sdist: $(basename "$wheel") ($(stat -c %s "$wheel") bytes)"
"$py" -m pip install -q --disable-pip-version-check "$wheel"

step "smoke test (BARENET_BACKEND=compiled)"
mkdir -p "$WORK/run"
cd "$WORK/run"
export BARENET_BACKEND=compiled
"$py" -m barenet info
"$WORK/venv/bin/barenet" info >/dev/null
"$py" - "$ROOT" <<'EOF'
import sys
import numpy as np
import barenet
from barenet import NeuralNetwork
assert not barenet.__file__.startswith(sys.argv[1]), barenet.__file__
try:
    from barenet._info import info
except ImportError:   # the sdist predates barenet.info()
    info = None
if info is not None:
    facts = info()
    assert facts["backend"] == "compiled" and facts["compiled_available"], facts
    print("barenet.info():", facts)
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
y = np.array([[0], [1], [1], [0]], dtype=float)
net = NeuralNetwork([2, 8, 1], seed=0)
losses = net.train(X, y, epochs=2000, learning_rate=0.5, verbose=False)
assert net.backend == "compiled", net.backend
assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])
assert ((net.predict(X) > 0.5) == y).all(), net.predict(X)
print(f"tiny train on the compiled backend: loss {losses[0]:.4f} -> {losses[-1]:.6f}, XOR solved")
EOF

step "done: $((SECONDS - start)) s"
