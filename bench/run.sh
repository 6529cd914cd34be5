#!/usr/bin/env bash
# One command, a table out: builds sidegate and the benchmark in release mode and runs it.
# Usage: bench/run.sh [--before PATH] [--requests N] [--concurrency 1,64] [--only overhead|...]
#   --before PATH   also run the same benchmark against another sidegate binary (an older
#                   build), first, in the same run: before/after tables on the same machine state.
set -euo pipefail
cd "$(dirname "$0")/.."
before=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --before) before="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
cargo build --release --quiet -p sidegate --bin sidegate
cargo build --release --quiet -p fake-vendor -p sidegate-bench
if [ -n "$before" ]; then
  echo "== before: $before"
  target/release/sidegate-bench --sidegate "$before" "${args[@]}"
  echo
  echo "== after: target/release/sidegate (this tree)"
fi
exec target/release/sidegate-bench --sidegate target/release/sidegate "${args[@]}"
