#!/usr/bin/env bash
# Shim overhead before/after in one run: the shims of git ref BASE (extracted to a temporary
# directory) and those of the working tree, against one release daemon, alternating for
# ROUNDS rounds (and which goes first) so that machine noise hits both alike. Prints every run, then the median
# p50/p99/client CPU per call of each shim. Needs .venv and node like run.sh. On a busy
# machine, bench/shims/inprocess.py measures the Python shim's own CPU without the daemon.
# Usage: bench/shims/compare.sh BASE [calls] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:?usage: bench/shims/compare.sh BASE [calls] [rounds]}
calls=${2:-2000}
rounds=${3:-3}
cargo build --release --quiet -p sidegate --bin sidegate
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
mkdir "$dir/base"
git archive "$base" clients/python clients/node | tar -x -C "$dir/base"
ln -s "$(pwd)/clients/node/node_modules" "$dir/base/clients/node/node_modules" 2>/dev/null || true
printf '[server]\nsocket = "%s/sg.sock"\nstate_dir = "%s/state"\n[providers.mock]\nkind = "mock"\n' "$dir" "$dir" > "$dir/c.toml"
target/release/sidegate serve --config "$dir/c.toml" --log-level warn &
pid=$!
for _ in $(seq 100); do [ -S "$dir/sg.sock" ] && break; sleep 0.1; done
log="$dir/runs.log"
run() { # label tree
  local label=$1 tree=$2
  for mode in sync async node; do
    echo "### $label $mode"
    case $mode in
      sync) .venv/bin/python "$tree/clients/python/bench.py" "$dir/sg.sock" --calls "$calls" ;;
      async) .venv/bin/python "$tree/clients/python/bench.py" "$dir/sg.sock" --calls "$calls" --async ;;
      node) node "$tree/clients/node/bench.js" "$dir/sg.sock" --calls "$calls" ;;
    esac
  done
}
for r in $(seq "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then # which goes first alternates too: no order bias
    run before "$dir/base" | tee -a "$log"
    run after "." | tee -a "$log"
  else
    run after "." | tee -a "$log"
    run before "$dir/base" | tee -a "$log"
  fi
done
.venv/bin/python bench/shims/summarize.py "$log"
