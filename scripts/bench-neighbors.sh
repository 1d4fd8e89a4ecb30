#!/usr/bin/env bash
# Sets up .cache/venv-bench with the baseline libraries (annoy, pynndescent,
# hnswlib, numpy) and runs scripts/bench-neighbors.py against a freshly built
# essync binary. Idempotent: the venv is made and filled only once.
# Usage: scripts/bench-neighbors.sh [bench-neighbors.py args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.cache/venv-bench"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import annoy, hnswlib, pynndescent, numpy' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet 'numpy<2.3' 'annoy==1.17.3' 'hnswlib==0.8.0' 'pynndescent==0.5.13'
fi
mkdir -p "$root/.cache/bin"
(cd "$root" && go build -o "$root/.cache/bin/essync" ./cmd/essync)
exec "$venv/bin/python" "$root/scripts/bench-neighbors.py" --essync "$root/.cache/bin/essync" "$@"
