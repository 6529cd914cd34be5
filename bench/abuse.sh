#!/usr/bin/env bash
# The front under abuse, one table per scenario (docs/benchmarks.md): idle and slowloris floods
# past the connection limit while normal requests are timed, and 32 concurrent 16 MiB bodies
# against the memory budget (peak RSS). Builds the daemon in release mode unless --sidegate
# names a binary.
# Usage: bench/abuse.sh [--sidegate PATH] [--sizes 0,2000,...] [--requests N] [--only idle,slowloris,bodies]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ " $* " != *" --sidegate "* ]]; then
  cargo build --release --quiet -p sidegate --bin sidegate
  set -- --sidegate target/release/sidegate "$@"
fi
exec python3 bench/abuse.py "$@"
