#!/usr/bin/env bash
# Issue 18's fleet numbers as a table: outage signal propagation (p50/max over 20 trials) and
# the cost of shared limits (added p50 at c=1, req/s at c=64 with and without). Needs
# redis-server. Usage: bench/fleet.sh [--debug] [--trials N] [--requests N] [--cluster]
#   --cluster against a three-node Redis Cluster (redis+cluster://; needs redis-cli too)
#   --debug   use a debug build (quick to build; its latencies are not representative)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
flag=$([ "$profile" = release ] && echo --release || true)
cargo build $flag --quiet -p sidegate --bin sidegate
cargo build $flag --quiet -p sidegate-bench --bin fleet-bench
exec "target/$profile/fleet-bench" --sidegate "target/$profile/sidegate" "${args[@]}"
