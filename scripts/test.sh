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
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
