#!/usr/bin/env bash
# Where the daemon's CPU time goes under the overhead benchmark's c=64 load: a sampling
# profile (perf, cpu-clock: this VM has no hardware counters) with DWARF call graphs, folded
# into a flame graph by bench/flame.py. One command, a table out.
#
# Usage: bench/flame.sh [--sidegate PATH] [--requests N] [--out DIR]
#   --sidegate PATH  profile this binary (default target/release/sidegate, built first)
#   --requests N     requests per benchmark row (default 10000)
#   --out DIR        where perf.data, folded.txt and flame.svg go (default target/flame)
# Needs perf (Debian: apt-get install linux-perf) and python3. The whole benchmark runs under
# perf record (every process it starts is sampled); only the daemon's samples are folded: the
# rows direct to the vendor, HTTP/unix, HTTP/tcp, native and native-to-mock, at c=64.
set -euo pipefail
cd "$(dirname "$0")/.."
sidegate="target/release/sidegate"; requests=10000; out="target/flame"
while [ $# -gt 0 ]; do
  case "$1" in
    --sidegate) sidegate="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--sidegate PATH] [--requests N] [--out DIR]" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "$0: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
[ "$sidegate" = target/release/sidegate ] && cargo build --release --quiet -p sidegate --bin sidegate
cargo build --release --quiet -p fake-vendor -p sidegate-bench
mkdir -p "$out"
# 999 Hz and 8 KiB of stack per sample: about 150 MB of perf.data (all processes) at the default 10,000 requests.
perf record -q -e cpu-clock -F 999 --call-graph dwarf,8192 -o "$out/perf.data" -- \
  target/release/sidegate-bench --sidegate "$sidegate" --only overhead --concurrency 64 \
  --requests "$requests" > "$out/bench.txt"
perf script -i "$out/perf.data" -F pid,tid,comm,ip,sym,dso 2>/dev/null | python3 bench/flame.py --process sidegate --out "$out"
