#!/usr/bin/env bash
# The chaos soak with N requests (default 2000; half whole, half streamed, eight at a time),
# printing its figures: requests, failed, streams ended without [DONE] or an error event,
# p50/p99 latency, and how often each fault was picked by each chaos vendor.
# Usage: bench/chaos-soak.sh [N]
# The soak is the integration test tests/integration/chaos.rs (debug build, loopback only);
# CI runs it with 200 requests.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
SOAK_REQUESTS="$n" cargo test --quiet --test integration chaos::a_route_over_chaos_vendors_fails_no_request \
  -- --exact --nocapture 2>&1 | grep -E '^SOAK|test result|panicked|failed'
