#!/usr/bin/env bash
# Builds netwarden and runs its demo on this machine (root: it loads BPF programs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then
  echo "demo: run as root (it loads BPF programs and creates a network namespace)" >&2
  exit 1
fi
./scripts/setup.sh
# Same target directory as the tests: DuckDB's C++ builds once (about 21 minutes from clean).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/netwarden/target}"
source ./scripts/ccache-env.sh
cargo build --quiet
exec "$CARGO_TARGET_DIR/debug/netwarden" demo "$@"
