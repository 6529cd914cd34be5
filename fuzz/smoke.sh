#!/usr/bin/env bash
# Builds every fuzz target and runs each for FUZZ_SECONDS (default 5), printing the
# executions per target; a crash fails the run (its input is left in fuzz/artifacts/).
# cargo-fuzz needs nightly flags: on the stable toolchain RUSTC_BOOTSTRAP=1 allows them.
# Usage: fuzz/smoke.sh [target...]     (FUZZ_SECONDS=3600 fuzz/smoke.sh for a long run)
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
seconds="${FUZZ_SECONDS:-5}"
build=(cargo fuzz build -O --target-dir ../target/fuzz)
if [ $# -gt 0 ]; then
  targets=("$@")
  for t in "${targets[@]}"; do "${build[@]}" "$t"; done
else
  mapfile -t targets < <(cargo fuzz list)
  "${build[@]}"
fi
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  if ! cargo fuzz run -O --target-dir ../target/fuzz "$t" "corpus/$t" -- \
      -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz $t: FAILED (input under fuzz/artifacts/$t/)"
    exit 1
  fi
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  echo "fuzz $t: $execs executions in ${seconds}s"
  rm -f "$log"
done
