#!/usr/bin/env bash
# Builds the Debian package (cargo-deb, from an existing build: release by default,
# SIDEGATE_DEB_PROFILE=debug for the debug build CI already has), checks its contents and
# metadata, runs lintian when installed, and installs it into a scratch root with
# `dpkg --root` (the maintainer scripts run there too, with DPKG_ROOT set; systemd is left
# alone): paths, modes, the group, the credentials directory, the conffile (`sidegate check`
# accepts it; an upgrade keeps an edit), then remove and purge. Needs dpkg, cargo-deb
# (`cargo install cargo-deb`) and systemd-sysusers/systemd-tmpfiles (Debian's systemd).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${SIDEGATE_DEB_PROFILE:-release}
case "$profile" in
release) deb_profile=(--profile release) ;;
debug) deb_profile=(--profile dev) ;;
*) echo "check-deb.sh: SIDEGATE_DEB_PROFILE is release or debug, not $profile" >&2; exit 2 ;;
esac
bin="target/$profile/sidegate"
[ -x "$bin" ] || { echo "check-deb.sh: $bin is missing: cargo build ${profile/debug/} first" >&2; exit 1; }
command -v cargo-deb >/dev/null || { echo "check-deb.sh: cargo-deb is missing (cargo install cargo-deb)" >&2; exit 1; }

fail() { echo "check-deb.sh: $*" >&2; exit 1; }

echo "-- man pages and completions from the clap definitions"
rm -rf target/assets
"$bin" generate man target/assets/man >/dev/null
"$bin" generate completions target/assets/completions >/dev/null

# A binary with packed relative relocations (build.rs) needs glibc >= 2.36, which the package
# must declare itself (dpkg-shlibdeps only sees versioned symbols): the `relr` variant.
variant=()
if readelf -V "$bin" | grep -q GLIBC_ABI_DT_RELR; then variant=(--variant relr); fi

echo "-- cargo deb ($profile build${variant:+, ${variant[1]} variant})"
# (stripped: lintian refuses unstripped binaries; a backtrace still names functions)
out=$(cargo deb --no-build --strip "${deb_profile[@]}" "${variant[@]}" --output target/debian/ 2>&1) \
  || { echo "$out" >&2; exit 1; }
deb=$(echo "$out" | grep -E '\.deb$' | tail -n 1)
[ -f "$deb" ] || fail "no .deb in cargo-deb's output: $out"
echo "$deb: $(stat -c %s "$deb") bytes"

echo "-- contents"
info=$(dpkg-deb -I "$deb")
echo "$info" | grep -q '^ Package: sidegate$' || fail "not package sidegate: $info"
for script in postinst prerm postrm; do
  echo "$info" | grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$script " || fail "no executable $script: $info"
done
[ "$(dpkg-deb -f "$deb" Section)" = net ] || fail "section is not net"
if [ ${#variant[@]} -gt 0 ]; then
  dpkg-deb -f "$deb" Depends | grep -q 'libc6 (>= 2.36)' || fail "a RELR binary without libc6 (>= 2.36): $(dpkg-deb -f "$deb" Depends)"
fi
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
[ "$conffiles" = /etc/sidegate/sidegate.toml ] || fail "conffiles are: $conffiles"
listing=$(dpkg-deb -c "$deb")
expect=(
  "-rwxr-xr-x ./usr/bin/sidegate"
  "-rw-r--r-- ./usr/lib/systemd/system/sidegate.service"
  "-rw-r--r-- ./usr/lib/systemd/system/sidegate.socket"
  "-rw-r--r-- ./usr/lib/sysusers.d/sidegate.conf"
  "-rw-r--r-- ./usr/lib/tmpfiles.d/sidegate.conf"
  "-rw-r--r-- ./etc/sidegate/sidegate.toml"
  "-rw-r--r-- ./usr/share/doc/sidegate/README.md"
  "-rw-r--r-- ./usr/share/doc/sidegate/configuration.md"
  "-rw-r--r-- ./usr/share/doc/sidegate/copyright"
  "-rw-r--r-- ./usr/share/doc/sidegate/grafana/sidegate.json"
  "-rw-r--r-- ./usr/share/man/man1/sidegate.1.gz"
  "-rw-r--r-- ./usr/share/man/man1/sidegate-serve.1.gz"
  "-rw-r--r-- ./usr/share/man/man1/sidegate-dashboard.1.gz"
  "-rw-r--r-- ./usr/share/bash-completion/completions/sidegate"
  "-rw-r--r-- ./usr/share/zsh/vendor-completions/_sidegate"
  "-rw-r--r-- ./usr/share/fish/vendor_completions.d/sidegate.fish"
)
for e in "${expect[@]}"; do
  mode=${e%% *} path=${e#* }
  echo "$listing" | awk -v m="$mode" -v p="$path" '$1 == m && $6 == p { found = 1 } END { exit !found }' \
    || fail "missing or wrong mode: $e (listing: $listing)"
done

if command -v lintian >/dev/null; then
  echo "-- lintian"
  # Errors fail, except the placeholder maintainer address (Cargo.toml says so).
  lint=$(lintian --tag-display-limit 0 --suppress-tags bogus-mail-host,bogus-mail-host-in-debian-changelog \
    "$deb" 2>&1 || true)
  lint=$(echo "$lint" | grep -v '^running with root privileges' || true)
  [ -z "$lint" ] || echo "$lint"
  if echo "$lint" | grep -q '^E: '; then fail "lintian reported errors"; fi
else
  echo "-- lintian: not installed, skipped (apt-get install lintian)"
fi

echo "-- install into a scratch root (dpkg --root; maintainer scripts with DPKG_ROOT)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
r="$scratch/root"
mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/etc"
touch "$r/var/lib/dpkg/status"
printf 'root:x:0:\n' >"$r/etc/group"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
# (--force-depends: the scratch root has no libc6; its output is shown only on failure)
dpkg_root() {
  dpkg --root="$r" --force-script-chrootless --force-depends --log=/dev/null "$@" >"$scratch/dpkg.log" 2>&1 \
    || { cat "$scratch/dpkg.log" >&2; return 1; }
}
dpkg_root -i "$deb"
for p in usr/bin/sidegate usr/lib/systemd/system/sidegate.service usr/lib/systemd/system/sidegate.socket \
  etc/sidegate/sidegate.toml usr/share/man/man1/sidegate.1.gz usr/share/bash-completion/completions/sidegate; do
  [ -e "$r/$p" ] || fail "/$p is not installed"
done
grep -q '^sidegate:' "$r/etc/group" || fail "postinst made no group sidegate: $(cat "$r/etc/group")"
[ "$(stat -c %a "$r/etc/sidegate/credentials")" = 700 ] || fail "/etc/sidegate/credentials is not 0700"
"$r/usr/bin/sidegate" check --strict --config "$r/etc/sidegate/sidegate.toml" || fail "sidegate check refuses the shipped config"
# Its commented examples stay valid too: uncommented, only the key files are missing (warnings).
sed -e 's/^# \(\[\|kind\|api_key\|provider\|model\|unit\|routes\|rpm\|budget\|http\)/\1/' \
  -e 's/^targets = \["echo"\]$//' -e 's/^# targets = /targets = /' \
  "$r/etc/sidegate/sidegate.toml" >"$scratch/uncommented.toml"
"$r/usr/bin/sidegate" check --config "$scratch/uncommented.toml" >/dev/null 2>&1 || fail "the config's commented examples do not check"
grep -q '^\[callers.billing\]' "$scratch/uncommented.toml" || fail "the commented examples were not uncommented"
zcat "$r/usr/share/man/man1/sidegate.1.gz" | grep -q '^\.TH sidegate 1' || fail "the man page is not roff"
bash -c "source '$r/usr/share/bash-completion/completions/sidegate' && complete -p sidegate" >/dev/null \
  || fail "the bash completion does not load"

echo "-- upgrade keeps an edited conffile; remove keeps it; purge removes state, keys and the group"
echo '# edited by the admin' >>"$r/etc/sidegate/sidegate.toml"
dpkg_root --force-confold -i "$deb"
grep -q 'edited by the admin' "$r/etc/sidegate/sidegate.toml" || fail "the upgrade replaced the edited conffile"
mkdir -p "$r/var/lib/private/sidegate" && touch "$r/var/lib/private/sidegate/ledger.sqlite"
ln -s private/sidegate "$r/var/lib/sidegate"
touch "$r/etc/sidegate/credentials/openai"
dpkg_root -r sidegate
[ ! -e "$r/usr/bin/sidegate" ] || fail "remove left /usr/bin/sidegate"
[ -f "$r/etc/sidegate/sidegate.toml" ] || fail "remove took the conffile"
[ -e "$r/var/lib/private/sidegate/ledger.sqlite" ] || fail "remove took the state"
dpkg_root --purge sidegate
for p in etc/sidegate var/lib/private/sidegate var/lib/sidegate; do
  [ ! -e "$r/$p" ] && [ ! -L "$r/$p" ] || fail "purge left /$p"
done
! grep -q '^sidegate:' "$r/etc/group" || fail "purge left the group sidegate"
echo "package ok: $deb ($(stat -c %s "$deb") bytes)"
