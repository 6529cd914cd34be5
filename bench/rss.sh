#!/usr/bin/env bash
# Where the daemon's resident memory is, one command, tables out (issue 16: idle <= 15 MB,
# peak <= 40 MB at c=64). Builds the release binaries, then for each sidegate binary:
#   1. bench/run.sh's overhead load at c=64 (sidegate-bench --only overhead --concurrency 64):
#      the daemon's /proc smaps idle, right after the load and 3 s after it, and its peak
#      (VmHWM), split anonymous vs file-backed and by mapping;
#   2. an idle daemon on a config with the three vendors over https (placeholder keys, no
#      traffic): what the providers cost at start.
# Usage: bench/rss.sh [--before PATH] [--after PATH] [--requests N]
#   --before PATH   also measure another sidegate binary (an older build), first
#   --after PATH    measure this binary instead of target/release/sidegate (still built first)
#   --requests N    requests per path in the c=64 load (default 4000)
# Needs python3. File-backed figures depend on the page cache: a binary just built or run is
# all cached, and the kernel maps up to 16 cached pages around each page fault
# (fault_around_bytes), so touching one function maps 64 kB of code around it.
set -euo pipefail
cd "$(dirname "$0")/.."
before=""; after="target/release/sidegate"; requests=4000
while [ $# -gt 0 ]; do
  case "$1" in
    --before) before="$2"; shift 2 ;;
    --after) after="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    *) echo "usage: $0 [--before PATH] [--after PATH] [--requests N]" >&2; exit 2 ;;
  esac
done
command -v python3 >/dev/null || { echo "$0: python3 is missing" >&2; exit 1; }
cargo build --release --quiet -p sidegate --bin sidegate
cargo build --release --quiet -p fake-vendor -p sidegate-bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints the tables for the smaps files named on its command line (NAME=FILE.smaps ...).
table() {
  python3 - "$@" <<'EOF'
import re, sys

def parse(path):
    maps, cur = [], None
    for line in open(path):
        m = re.match(r'^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \S+\s*(.*)$', line)
        if m:
            a, b, perm, off, name = m.groups()
            cur = dict(start=int(a, 16), size=(int(b, 16) - int(a, 16)) // 1024, perm=perm,
                       off=int(off, 16), name=name, Rss=0, Anonymous=0)
            maps.append(cur)
        elif cur is not None:
            k, _, v = line.partition(':')
            if k in ('Rss', 'Anonymous'):
                cur[k] = int(v.split()[0])
    return maps

def exe_of(maps):
    # the first mapping is the executable's headers (offset 0, r--p)
    return maps[0]['name'] if maps else ''

def kind(m, exe):
    n, p = m['name'], m['perm']
    if n == exe:
        if 'x' in p: return 'binary .text'
        if p.startswith('r--') and m['off'] == 0: return 'binary .rela.dyn/.rodata/.eh_frame'
        if p.startswith('r--'): return 'binary RELRO (.data.rel.ro, .got)'
        return 'binary .data/.bss'
    if n.startswith('/') and '.so' in n: return 'shared libraries (' + ('code' if 'x' in p else 'data') + ')'
    if n.endswith('-shm'): return 'SQLite WAL index (-shm)'
    if n == '[heap]': return 'malloc main arena ([heap])'
    if n == '[stack]': return 'main thread stack'
    if n.startswith('['): return 'kernel ([vdso], [vvar])'
    if n: return 'other files'
    if m['size'] == 2048 and p.startswith('rw'): return 'thread stacks (2 MiB each)'
    if m['start'] % (64 << 20) == 0 and p.startswith('rw'): return 'malloc thread arenas'
    return 'other anonymous (large mallocs, mmap)'

def status(path):
    out = {}
    for line in open(path):
        k, _, v = line.partition(':')
        if k in ('VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'RssShmem', 'Threads'):
            out[k] = int(v.split()[0])
    return out

cols = [a.split('=', 1) for a in sys.argv[1:]]
stats = [status(f.replace('.smaps', '.status')) for _, f in cols]
rows = {}
for i, (_, f) in enumerate(cols):
    maps = parse(f)
    exe = exe_of(maps)
    for m in maps:
        k = kind(m, exe)
        r = rows.setdefault(k, [[0, 0] for _ in cols])
        r[i][0] += m['Rss']
        r[i][1] += m['Anonymous']
mb = lambda kb: f"{kb / 1024:.1f}"
head = f"{'MB (rss / of it anonymous)':<40}" + ''.join(f"{n:>16}" for n, _ in cols)
print(head)
print('-' * len(head))
for label, key in (('VmRSS', 'VmRSS'), ('  anonymous (RssAnon)', 'RssAnon'),
                   ('  file-backed (RssFile + RssShmem)', None), ('peak so far (VmHWM)', 'VmHWM')):
    vals = [s.get(key, 0) if key else s.get('RssFile', 0) + s.get('RssShmem', 0) for s in stats]
    print(f"{label:<40}" + ''.join(f"{mb(v):>16}" for v in vals))
print(f"{'threads':<40}" + ''.join(f"{s.get('Threads', 0):>16}" for s in stats))
print('-' * len(head))
for k, r in sorted(rows.items(), key=lambda kv: -max(c[0] for c in kv[1])):
    if max(c[0] for c in r) < 16:
        continue
    print(f"{k:<40}" + ''.join(f"{mb(c[0]) + ' / ' + mb(c[1]):>16}" for c in r))
EOF
}

# An idle daemon on the three https vendors: its smaps after start.
vendors_idle() {
  local bin="$1" dir="$2"
  mkdir -p "$dir/state"
  cat >"$dir/vendors.toml" <<EOF
[server]
socket = "$dir/sg.sock"

[providers.openai]
kind = "openai"
api_key = { env = "RSS_PLACEHOLDER_KEY" }

[providers.anthropic]
kind = "anthropic"
api_key = { env = "RSS_PLACEHOLDER_KEY" }

[providers.gemini]
kind = "gemini"
api_key = { env = "RSS_PLACEHOLDER_KEY" }

[models.gpt]
provider = "openai"
model = "gpt-4.1-mini"

[models.claude]
provider = "anthropic"
model = "claude-sonnet-4-5"

[models.gemini]
provider = "gemini"
model = "gemini-2.5-flash"
EOF
  RSS_PLACEHOLDER_KEY=placeholder STATE_DIRECTORY="$dir/state" \
    "$bin" serve --log-level warn --config "$dir/vendors.toml" 2>"$dir/vendors.log" &
  local pid=$!
  for _ in $(seq 200); do [ -S "$dir/sg.sock" ] && break; sleep 0.05; done
  [ -S "$dir/sg.sock" ] || { cat "$dir/vendors.log" >&2; kill "$pid"; echo "$0: $bin did not start" >&2; exit 1; }
  sleep 1
  cp "/proc/$pid/smaps" "$dir/vendors.smaps"
  cp "/proc/$pid/status" "$dir/vendors.status"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

measure() {
  local bin="$1" dir="$work/$2"
  mkdir -p "$dir"
  echo "== $bin"
  target/release/sidegate-bench --sidegate "$bin" --only overhead --concurrency 64 \
    --requests "$requests" --smaps "$dir" >"$dir/bench.txt"
  vendors_idle "$bin" "$dir"
  echo "c=64 overhead load, $requests requests per path (bench config: one http vendor and the mock):"
  table idle="$dir/idle.smaps" "after load"="$dir/load.smaps" "3 s later"="$dir/after.smaps"
  echo
  echo "idle, three https vendors configured (no traffic):"
  table idle="$dir/vendors.smaps"
  echo
}

[ -n "$before" ] && measure "$before" before
measure "$after" after
