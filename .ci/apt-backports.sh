#!/usr/bin/env bash
# Adds bookworm-backports (for Mesa 25's lavapipe) on the same Debian mirror as
# the machine's existing sources, unless some source already has it.
#
# Debian 12 machines may list their sources in /etc/apt/sources.list (one-line
# format), in deb822 files under /etc/apt/sources.list.d/*.sources, or both;
# either file may be missing. APT_ROOT (default /etc/apt) lets the test run
# this against a fake layout.
set -euo pipefail
root="${APT_ROOT:-/etc/apt}"

# Every existing sources file, whichever layout; missing ones are skipped.
files=()
[ -f "$root/sources.list" ] && files+=("$root/sources.list")
for f in "$root"/sources.list.d/*.list "$root"/sources.list.d/*.sources; do
  [ -f "$f" ] && files+=("$f")
done

if [ "${#files[@]}" -gt 0 ] && grep -qs "bookworm-backports" "${files[@]}"; then
  echo "bookworm-backports: already configured"
  exit 0
fi

mirror=""
if [ "${#files[@]}" -gt 0 ]; then
  # Not comments; a URL ending in /debian (not debian-security), in either format.
  mirror=$(grep -hv '^[[:space:]]*#' "${files[@]}" | grep -oE 'https?://[^ ]+/debian/?([[:space:]]|$)' |
    head -n1 | tr -d '[:space:]' || true)
fi
mirror="${mirror%/}"
mirror="${mirror:-http://deb.debian.org/debian}"
mkdir -p "$root/sources.list.d"
printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$mirror" >"$root/sources.list.d/bookworm-backports.sources"
echo "bookworm-backports: added on $mirror"
