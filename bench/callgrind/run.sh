#!/usr/bin/env bash
# Instructions the daemon executes per request, counted by valgrind's callgrind: repeatable
# for the same binary and inputs whatever else the machine does (unlike wall-clock figures
# on a shared 2-core machine). One command, a table out.
#
# Usage: bench/callgrind/run.sh [--before PATH] [--runs N] [--only SUBSTRING] [--keep DIR]
#   --before PATH   also measure another sidegate binary (an older build), in the same run
#   --runs N        repetitions per row (median shown; default 1). Single runs of a mock row vary by
#                   1-2k instructions; a vendor row can stray by ~10% once: use 3 for figures to keep
#   --only S        only the rows whose label contains S (e.g. "stream", "cache", "tcp")
#   --after PATH    measure this binary instead of target/release/sidegate (still built first)
#   --no-build      do not build first (the binaries must exist: a build in progress elsewhere)
#   --keep DIR      keep each row's callgrind profile of the larger run in DIR (for
#                   callgrind_annotate: where the instructions go; the per-chunk rows keep
#                   the run with the long prompt)
# Needs valgrind, curl and python3 (the native rows use the Python shim from clients/python).
# The daemon runs with the default features on (callers, ledger, metrics) and its default log
# level (one log line per request, to a file). Each row runs the daemon twice (N and N+500
# requests) and reports the difference / 500, so start-up and shutdown cancel out. The
# per-chunk row runs the same number of streamed requests twice, with a prompt of 4 and of 104
# words (the fake vendor streams one chunk per word), and reports the difference / 100 chunks.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
before=""; runs=1; only=""; keep=""; after="target/release/sidegate"; build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --before) before="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --keep) keep="$2"; mkdir -p "$keep"; shift 2 ;;
    --after) after="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "usage: $0 [--before PATH] [--after PATH] [--no-build] [--runs N] [--only SUBSTRING] [--keep DIR]" >&2; exit 2 ;;
  esac
done
for tool in valgrind curl python3; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing" >&2; exit 1; }
done
if [ "$build" = 1 ]; then
  cargo build --release --quiet -p sidegate --bin sidegate
  cargo build --release --quiet -p fake-vendor
fi
work=$(mktemp -d)
trap 'kill $(cat "$work/vendor.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
target/release/fake-vendor --port 0 > "$work/vendor.out" & echo $! > "$work/vendor.pid"
for _ in $(seq 100); do [ -s "$work/vendor.out" ] && break; sleep 0.1; done
addr=$(head -1 "$work/vendor.out" | sed 's/^LISTENING //')
tcp_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
config() { # $1 = provider block, $2 = name
  printf '[server]\nsocket = "%s/sg.sock"\nhttp = "127.0.0.1:%s"\nstate_dir = "%s/state"\n\n%s\n[models.m]\nprovider = "p"\nmodel = "echo"\n\n[routes.cached]\ntargets = ["m"]\ncache = { ttl = "1h", tiers = ["memory"] }\n' \
    "$work" "$tcp_port" "$work" "$1" > "$work/$2.toml"
}
config $'[providers.p]\nkind = "mock"' mock
config "$(printf '[providers.p]\nkind = "openai-compatible"\nbase_url = "http://%s/v1"' "$addr")" vendor
short="benchmark prompt of words"
long="$short$(for i in $(seq 100); do printf ' w%s' "$i"; done)"

# HTTP loads: curl reuses one connection for all the URLs. $1 = requests, $2 = unix|tcp,
# $3 = model, $4 = stream (true|false), $5 = prompt.
http_load() {
  local base=http://sidegate conn=(--unix-socket "$work/sg.sock")
  [ "$2" = tcp ] && { base="http://127.0.0.1:$tcp_port"; conn=(); }
  local body; body=$(printf '{"model":"%s","stream":%s,"messages":[{"role":"user","content":"%s"}]}' "$3" "$4" "$5")
  local urls; urls=$(for _ in $(seq "$1"); do printf '%s/v1/chat/completions ' "$base"; done)
  # shellcheck disable=SC2086
  curl -s "${conn[@]}" -H 'content-type: application/json' -d "$body" $urls > /dev/null
}
# Native loads through the Python shim: $1 = requests, $2 = model, $3 = stream (0|1),
# $4 = prompt, $5 = unique (1: a different prompt each request, so a cache never hits).
native_load() {
  PYTHONPATH="$root/clients/python/src" python3 - "$work/sg.sock" "$@" <<'PY'
import sys
from sidegate import Client
sock, n, model, stream, prompt, unique = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", sys.argv[5], sys.argv[6] == "1"
c = Client(sock)
for i in range(n):
    text = f"{prompt} {i}" if unique else prompt
    msgs = [{"role": "user", "content": text}]
    if stream:
        for _ in c.chat(model=model, messages=msgs, stream=True):
            pass
    else:
        c.chat(model=model, messages=msgs)
c.close()
PY
}
# The rows: label | config | load function and its arguments after the request count.
rows=(
  "native/unix, mock|mock|native_load m 0 short 0"
  "native/unix, vendor|vendor|native_load m 0 short 0"
  "HTTP/unix, mock|mock|http_load unix m false short"
  "HTTP/unix, vendor|vendor|http_load unix m false short"
  "HTTP/tcp, mock|mock|http_load tcp m false short"
  "HTTP/tcp, vendor|vendor|http_load tcp m false short"
  "native, memory-cache hit|vendor|native_load cached 0 short 0"
  "native, cache miss (vendor)|vendor|native_load cached 0 short 1"
  "HTTP/unix, cache hit|vendor|http_load unix cached false short"
  "native, stream (vendor)|vendor|native_load m 1 short 0"
  "HTTP/unix, stream (vendor)|vendor|http_load unix m true short"
  "native, stream per chunk|vendor|native_load m 1 CHUNKS 0"
  "HTTP/unix, stream per chunk|vendor|http_load unix m true CHUNKS"
)
# Total instructions of one daemon run: $1 binary, $2 config, $3 requests, then the load.
count() {
  local bin=$1 cfg=$2 n=$3; shift 3
  rm -rf "$work/state" "$work/sg.sock" "$work"/cg.out.*
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out.%p" "$bin" serve \
    --config "$work/$cfg.toml" 2> "$work/daemon.log" &
  local pid=$!
  for _ in $(seq 300); do [ -S "$work/sg.sock" ] && break; sleep 0.1; done
  local args=() a
  for a in "$@"; do
    case "$a" in short) args+=("$short") ;; long) args+=("$long") ;; *) args+=("$a") ;; esac
  done
  "${args[0]}" "$n" "${args[@]:1}"
  kill -TERM "$pid"; wait "$pid" || true
  grep -h '^summary' "$work"/cg.out.* | awk '{s+=$2} END{print s}'
}
# Median instructions per request (or per chunk) of one row: $1 binary, $2 config, $3 load.
per_unit() {
  local bin=$1 cfg=$2 load=$3 xs=() a b
  read -ra words <<< "$load"
  for _ in $(seq "$runs"); do
    if [[ "$load" == *CHUNKS* ]]; then
      a=$(count "$bin" "$cfg" 200 "${words[@]/CHUNKS/short}")
      b=$(count "$bin" "$cfg" 200 "${words[@]/CHUNKS/long}")
      [ -n "$keep" ] && cp "$(ls "$work"/cg.out.* | head -1)" "$keep/$(basename "$bin")-${cfg}-$(echo "$load" | tr ' ' _).cg"
      xs+=($(( (b - a) / 200 / 100 )))
    else
      a=$(count "$bin" "$cfg" 50 "${words[@]}")
      b=$(count "$bin" "$cfg" 550 "${words[@]}")
      [ -n "$keep" ] && cp "$(ls "$work"/cg.out.* | head -1)" "$keep/$(basename "$bin")-${cfg}-$(echo "$load" | tr ' ' _).cg"
      xs+=($(( (b - a) / 500 )))
    fi
  done
  printf '%s\n' "${xs[@]}" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'
}
bins=(); [ -n "$before" ] && bins+=("$before"); bins+=("$after")
printf '| %-30s |' "instructions per request"; [ -n "$before" ] && printf ' %12s | %12s | %6s |' before after change
[ -z "$before" ] && printf ' %12s |' "this tree"; echo
printf '|%s|' "--------------------------------"; [ -n "$before" ] && printf '%s|%s|%s|' -------------: -------------: -------:
[ -z "$before" ] && printf '%s|' -------------:; echo
for row in "${rows[@]}"; do
  IFS='|' read -r label cfg load <<< "$row"
  [ -n "$only" ] && [[ "$label" != *"$only"* ]] && continue
  vals=()
  for b in "${bins[@]}"; do vals+=("$(per_unit "$b" "$cfg" "$load")"); done
  printf '| %-30s |' "$label"
  for v in "${vals[@]}"; do printf ' %12s |' "$v"; done
  if [ ${#vals[@]} -eq 2 ] && [ "${vals[0]}" -gt 0 ]; then
    printf ' %5s%% |' "$(awk -v a="${vals[0]}" -v b="${vals[1]}" 'BEGIN{printf "%+.0f", (b-a)*100/a}')"
  fi
  echo
done
