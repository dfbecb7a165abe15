# Sourced by the packaging scripts (build_wheel.sh, check_sdist.sh, pure_install.sh): the
# repository root, the Python to use, a temporary work directory removed on exit (kept with
# KEEP_WORK=1) and a timed step() logger. The caller sets WORK_NAME first.
ROOT="$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/barenet-${WORK_NAME}.XXXXXX")"
# (deleting the venvs takes tens of seconds on a busy disk: it runs in the background)
cleanup() { if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else (rm -rf "$WORK" >/dev/null 2>&1 &); fi; }
trap cleanup EXIT
start=$SECONDS
step() { echo "== [$((SECONDS - start))s] $*"; }
