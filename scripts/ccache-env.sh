# Sourced by test.sh and demo.sh: compile C and C++ (DuckDB's bundled sources) through ccache, with
# its cache next to the shared target directory.
if command -v ccache >/dev/null; then
  export CC="${CC:-ccache gcc}" CXX="${CXX:-ccache g++}"
  export CCACHE_DIR="${CCACHE_DIR:-/var/cache/netwarden/ccache}" CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-10G}"
fi
