#!/usr/bin/env bash
# Builds netwarden and runs its demo on this machine (root: it loads BPF programs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then
  echo "demo: run as root (it loads BPF programs and creates a network namespace)" >&2
  exit 1
fi
./scripts/setup.sh
cargo build --release --quiet
exec target/release/netwarden demo "$@"
