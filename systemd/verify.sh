#!/usr/bin/env bash
# Checks both units with systemd-analyze. `verify` only warns (exit 0) on unknown keys and bad
# values, so any output on stderr fails this script. The units name /usr/bin/sidegate, which
# verify insists exists: check a copy that points at the built binary instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SIDEGATE_BIN:-$PWD/target/debug/sidegate}
[ -x "$bin" ] || { echo "verify.sh: build the daemon first ($bin is missing)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp systemd/sidegate.socket "$tmp/"
sed "s#/usr/bin/sidegate#$bin#" systemd/sidegate.service > "$tmp/sidegate.service"
out=$(cd "$tmp" && systemd-analyze verify --man=no sidegate.socket sidegate.service 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify printed warnings:" >&2
  echo "$out" >&2
  exit 1
fi
score=$(cd "$tmp" && systemd-analyze security --offline=yes --no-pager sidegate.service 2>/dev/null | tail -n 1)
echo "systemd units ok; $score"
