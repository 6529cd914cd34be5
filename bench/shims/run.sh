#!/usr/bin/env bash
# Shim overhead: a mock chat through the Python shim (sync and async), the Node shim, and the
# official openai SDK over HTTP, against one release daemon. Needs .venv (tests/run-all.sh
# makes it) and node. Usage: bench/shims/run.sh [calls]
set -euo pipefail
cd "$(dirname "$0")/../.."
calls=${1:-2000}
cargo build --release --quiet -p sidegate --bin sidegate
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
printf '[server]\nsocket = "%s/sg.sock"\nstate_dir = "%s/state"\n[providers.mock]\nkind = "mock"\n' "$dir" "$dir" > "$dir/c.toml"
target/release/sidegate serve --config "$dir/c.toml" --log-level warn &
pid=$!
for _ in $(seq 100); do [ -S "$dir/sg.sock" ] && break; sleep 0.1; done
echo "shim round trips, mock provider, $calls sequential calls on one connection"
.venv/bin/python clients/python/bench.py "$dir/sg.sock" --calls "$calls"
.venv/bin/python clients/python/bench.py "$dir/sg.sock" --calls "$calls" --async
node clients/node/bench.js "$dir/sg.sock" --calls "$calls"
.venv/bin/python bench/shims/openai_sdk.py "$dir/sg.sock" --calls "$calls"
