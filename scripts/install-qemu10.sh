#!/usr/bin/env bash
# Installs QEMU 10.0.2 (Debian bookworm-backports) beside the system's QEMU 7.2, without
# touching the system's packages: the .debs are downloaded and unpacked into one folder.
# The archive URI is read from this machine's own apt sources (none is written here).
# Usage: scripts/install-qemu10.sh [DEST]   (default: $VSMMU_QEMU10_DIR or /opt/qemu-10.0)
# Prints the path of the qemu-system-aarch64 binary; run it with -L DEST/usr/share/qemu.
set -euo pipefail
dest="${1:-${VSMMU_QEMU10_DIR:-/opt/qemu-10.0}}"
bin="$dest/usr/bin/qemu-system-aarch64"
if [ -x "$bin" ] && "$bin" -L "$dest/usr/share/qemu" --version 2>/dev/null | grep -q 'version 10\.0'; then
  echo "$bin"; exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# The URI of the main Debian suite, from deb822 .sources files or one-line sources.list.
uri=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ { if ($0 ~ /bookworm( |$)/ && u != "") { print u; exit } }' "$f")
  [ -n "$uri" ] && break
done
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "install-qemu10: no bookworm entry in the apt sources" >&2; exit 1; }

list=/etc/apt/sources.list.d/vsmmu-bookworm-backports.list
if [ ! -f "$list" ]; then
  echo "deb $uri bookworm-backports main" | $SUDO tee "$list" >/dev/null
fi
$SUDO apt-get update -qq
tmp=$(mktemp -d); chmod 755 "$tmp"
( cd "$tmp" && apt-get download -qq -t bookworm-backports qemu-system-arm qemu-system-common qemu-system-data >/dev/null )
$SUDO mkdir -p "$dest"
for deb in "$tmp"/*.deb; do $SUDO dpkg-deb -x "$deb" "$dest"; done
rm -rf "$tmp"
# Shared libraries the 10.0 binary needs that bookworm may lack are reported here, not guessed.
if ! "$bin" -L "$dest/usr/share/qemu" --version >/dev/null 2>&1; then
  echo "install-qemu10: $bin does not run:" >&2
  ldd "$bin" | grep 'not found' >&2 || true
  exit 1
fi
echo "$bin"
