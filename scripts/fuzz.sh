#!/usr/bin/env bash
# Runs every atheris target in fuzz/ (fuzz_*.py) for a bounded, seeded number of inputs and
# fails on any finding: an exception other than the documented ones, a crash of the
# interpreter, a hang (-timeout) or memory beyond -rss_limit_mb. Findings are written to
# build/fuzz/<target>/ (crash-*, timeout-*, oom-*); replay one with
#   python fuzz/<target>.py build/fuzz/<target>/crash-...
#
#   scripts/fuzz.sh [N]        N inputs per target (default 20000); FUZZ_SEED (default 1)
#
# Uses the active Python environment (barenet installed, compiled backend required), and
# installs atheris into it if it is missing. fuzz/README.md tells how to fuzz longer.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
SEED=${FUZZ_SEED:-1}
OUT=build/fuzz
export BARENET_BACKEND=${BARENET_BACKEND:-compiled}
python -c "import atheris" 2>/dev/null || python -m pip install -q "atheris>=2.3"
python -c "import barenet._core" \
    || { echo "fuzz.sh: the compiled extension is missing" >&2; exit 1; }
mkdir -p "$OUT"

status=0
for target in fuzz/fuzz_*.py; do
    name=$(basename "$target" .py)
    rm -rf "${OUT:?}/$name" && mkdir -p "$OUT/$name"
    start=$(date +%s)
    if python "$target" -atheris_runs="$N" -seed="$SEED" -max_len=2048 -len_control=0 -timeout=60 \
            -rss_limit_mb=2048 -artifact_prefix="$OUT/$name/" -print_final_stats=1 \
            >"$OUT/$name.log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
    fi
    runs=$(grep -oE "^Done [0-9]+" "$OUT/$name.log" | awk '{print $2}' || true)
    echo "fuzz.sh: $name: $result, ${runs:-?} inputs in $(( $(date +%s) - start )) s" \
         "(log $OUT/$name.log)"
    if [ "$result" = FAILED ]; then
        grep -v -E "^#[0-9]+|^INFO: Instrumenting" "$OUT/$name.log" | tail -n 60 >&2
        ls "$OUT/$name" >&2
    fi
done
exit $status
