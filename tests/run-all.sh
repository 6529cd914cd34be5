#!/usr/bin/env bash
# Runs every test suite: Rust (unit + integration), Python (the shim, and the official openai
# SDK against the daemon), Node (the shim), and the /ui dashboard in a real browser. Works on a fresh machine with cargo, python3 and
# npm: it creates .venv/ and installs the Node dev dependencies itself. Exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "== build (daemon, fake vendor)"
cargo build --workspace --bins
export SIDEGATE_BIN="$root/target/debug/sidegate"
export FAKE_VENDOR_BIN="$root/target/debug/fake-vendor"
# the shims' suites must fail, not skip, when a binary is missing
export SIDEGATE_REQUIRE_DAEMON=1

echo "== systemd units"
if command -v systemd-analyze >/dev/null; then
  systemd/verify.sh
elif [ -n "${CI:-}" ]; then
  echo "systemd-analyze is missing (apt-get install systemd)" >&2; exit 1
else
  echo "skipped: systemd-analyze is not installed (apt-get install systemd)"
fi

echo "== rust"
cargo test --workspace

echo "== python"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r tests/python/requirements.txt
.venv/bin/python -m pip install --quiet ./clients/python
.venv/bin/python -m pytest -q tests/python
.venv/bin/python -m pytest -q clients/python/tests

echo "== node"
(cd clients/node && npm ci --no-audit --no-fund --loglevel=error && npm test)

echo "== browser (the /ui dashboard in headless Chromium: apt-get install chromium)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && npm test)

echo "== all test suites passed"
