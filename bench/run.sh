#!/usr/bin/env bash
# One command, a table out: builds sidegate and the benchmark in release mode and runs it.
# Usage: bench/run.sh [--requests N] [--concurrency 1,64]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p sidegate --bin sidegate
cargo build --release --quiet -p fake-vendor -p sidegate-bench
exec target/release/sidegate-bench --sidegate target/release/sidegate "$@"
