#!/usr/bin/env bash
# Installs what netwarden builds, runs and tests with, when missing, on Debian 12 (apt only).
set -euo pipefail

packages=(
  clang-19 llvm-19 libbpf-dev bpftool   # kernel programs: compiler, llvm-strip, libbpf headers, vmlinux.h
  iproute2 iputils-ping procps util-linux  # namespaces and veth (ip), ping, sysctl, setpriv in tests
  iperf3 nftables                        # benchmarks (nft: the firewall's drop-rate comparison)
  pkg-config gcc libc6-dev g++ ccache    # linking the Rust binary; DuckDB's C++ (flow store), cached
  nodejs chromium                        # building the console (npm); its browser tests
)
# Debian's nodejs comes without npm; NodeSource's includes it.
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "setup: run as root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found: netwarden needs Rust 1.87 or newer (rustup)" >&2
  exit 1
fi
if [[ ! -r /sys/kernel/btf/vmlinux ]]; then
  echo "setup: /sys/kernel/btf/vmlinux missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y" >&2
  exit 1
fi
# The BPF filesystem, where pinned firewall programs live; capture alone does not need it.
if [[ $EUID -eq 0 ]] && ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi
