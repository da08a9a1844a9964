#!/usr/bin/env bash
# Every check CI runs: formatting, lints, and all tests (kernel tests need root: they create network
# namespaces and load BPF programs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then
  echo "test: run as root (kernel tests load BPF programs and create network namespaces)" >&2
  exit 1
fi
./scripts/setup.sh
# DuckDB's bundled C++ (the flow store) takes about 21 minutes to build from clean on 2 cores:
# build into a target directory outside the clone, which later runs (and other clones) reuse.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/netwarden/target}"
mkdir -p "$CARGO_TARGET_DIR"
# cargo builds the C++ again whenever the build script's own dependencies change (clippy, test and
# build units differ); ccache makes every build after the first a cache hit.
source ./scripts/ccache-env.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
# The console: type check, unit tests and browser tests (headless Chromium) against its mock API,
# then the same browser tests against the real API (`netwarden serve` over a store of the fixtures).
(cd console && npm ci --no-audit --no-fund --loglevel=error && npm run check && npm test)
bash console/tests/against-server.sh "$CARGO_TARGET_DIR/debug/netwarden"
