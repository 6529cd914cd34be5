#!/usr/bin/env bash
# Instructions the daemon executes per request, counted by valgrind's callgrind: repeatable
# for the same binary and inputs whatever else the machine does (unlike wall-clock figures
# on a shared 2-core machine). One command, a table out.
#
# Usage: bench/callgrind/run.sh [--before PATH] [--runs N]
#   --before PATH   also measure another sidegate binary (an older build), in the same run
#   --runs N        repetitions per row (median shown; default 3)
# Needs valgrind, curl and python3 (the native rows use the Python shim from clients/python).
# Each row runs the daemon twice (100 and 1100 requests) and reports the difference / 1000,
# so start-up and shutdown cancel out.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
before=""; runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --before) before="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    *) echo "usage: $0 [--before PATH] [--runs N]" >&2; exit 2 ;;
  esac
done
for tool in valgrind curl python3; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing" >&2; exit 1; }
done
cargo build --release --quiet -p sidegate --bin sidegate -p fake-vendor
work=$(mktemp -d)
trap 'kill $(cat "$work/vendor.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
target/release/fake-vendor --port 0 > "$work/vendor.out" & echo $! > "$work/vendor.pid"
for _ in $(seq 100); do [ -s "$work/vendor.out" ] && break; sleep 0.1; done
addr=$(head -1 "$work/vendor.out" | sed 's/^LISTENING //')
config() { # $1 = provider block
  printf '[server]\nsocket = "%s/sg.sock"\nstate_dir = "%s/state"\n\n%s\n[models.m]\nprovider = "p"\nmodel = "echo"\n' \
    "$work" "$work" "$1" > "$work/$2.toml"
}
config $'[providers.p]\nkind = "mock"' mock
config "$(printf '[providers.p]\nkind = "openai-compatible"\nbase_url = "http://%s/v1"' "$addr")" vendor
body='{"model":"m","messages":[{"role":"user","content":"benchmark prompt of a few words"}]}'

load_http() { # $1 = requests
  local urls; urls=$(for _ in $(seq "$1"); do printf 'http://sidegate/v1/chat/completions '; done)
  # shellcheck disable=SC2086
  curl -s --unix-socket "$work/sg.sock" -H 'content-type: application/json' -d "$body" $urls > /dev/null
}
load_native() { # $1 = requests
  PYTHONPATH="$root/clients/python/src" python3 - "$work/sg.sock" "$1" <<'PY'
import sys
from sidegate import Client
c = Client(sys.argv[1])
for _ in range(int(sys.argv[2])):
    c.chat(model="m", messages=[{"role": "user", "content": "benchmark prompt of a few words"}])
c.close()
PY
}
# Total instructions of one daemon run serving $4 requests: $1 binary, $2 config, $3 load.
count() {
  rm -rf "$work/state" "$work/sg.sock" "$work"/cg.out.*
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out.%p" "$1" serve --log-level warn \
    --config "$work/$2.toml" 2> "$work/valgrind.log" &
  local pid=$!
  for _ in $(seq 300); do [ -S "$work/sg.sock" ] && break; sleep 0.1; done
  "$3" "$4"
  kill -TERM "$pid"; wait "$pid" || true
  grep -h '^summary' "$work"/cg.out.* | awk '{print $2}'
}
per_request() { # $1 binary, $2 config, $3 load -> median instructions per request
  local xs=()
  for _ in $(seq "$runs"); do
    local a b; a=$(count "$1" "$2" "$3" 100); b=$(count "$1" "$2" "$3" 1100)
    xs+=($(( (b - a) / 1000 )))
  done
  printf '%s\n' "${xs[@]}" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'
}
bins=(); [ -n "$before" ] && bins+=("$before"); bins+=("target/release/sidegate")
printf '%-30s' "instructions per request"; [ -n "$before" ] && printf ' %16s' "before"; printf ' %16s\n' "this tree"
for row in "native, mock provider:mock:load_native" "HTTP/unix, mock provider:mock:load_http" \
           "HTTP/unix, fake OpenAI vendor:vendor:load_http"; do
  IFS=: read -r label cfg load <<< "$row"
  printf '%-30s' "$label"
  for b in "${bins[@]}"; do printf ' %16s' "$(per_request "$b" "$cfg" "$load")"; done; echo
done
