#!/usr/bin/env bash
# The console's browser tests against the real API: `netwarden serve` over a store holding the
# console's fixture flows (their times are relative to now). Usage: against-server.sh NETWARDEN_BIN
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$1"
work="$(mktemp -d /tmp/nw-console-XXXXXX)"
server=""
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
node -e 'import("./dev/fixtures.mjs").then(m => { for (const f of m.fixtureFlows()) console.log(JSON.stringify(f)); })' > "$work/flows.jsonl"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$bin" serve --store "$work/flows.duckdb" --import "$work/flows.jsonl" --listen "127.0.0.1:$port" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do
  grep -q "serving started" "$work/serve.log" && break
  sleep 0.1
done
grep -q "serving started" "$work/serve.log" || { cat "$work/serve.log" >&2; exit 1; }
NETWARDEN_CONSOLE_URL="http://127.0.0.1:$port" node --test tests/console.test.mjs
