#!/usr/bin/env bash
# `sidegate eval` throughput (items/s at concurrency 16 against the zero-delay fake vendor) and
# its overhead over calling the daemon directly; prints a table.
# Usage: bench/eval.sh [--release] [--items N] [--concurrency C]
# Debug builds by default (the test binaries); --release builds and measures release ones.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=debug
args=()
for a in "$@"; do
  if [ "$a" = "--release" ]; then profile=release; else args+=("$a"); fi
done
flag=$([ "$profile" = release ] && echo --release || true)
cargo build $flag --quiet -p sidegate --bin sidegate
cargo build $flag --quiet -p fake-vendor -p sidegate-bench --bin fake-vendor --bin eval-bench
exec "target/$profile/eval-bench" --sidegate "target/$profile/sidegate" --fake-vendor "target/$profile/fake-vendor" "${args[@]}"
