#!/usr/bin/env bash
# Unpacks a software Vulkan driver (Mesa >= 24's lavapipe, "llvmpipe") and the Vulkan loader into a local
# folder, for Dawn (the WebGPU backend) on a machine without a GPU. Nothing on the system changes: apt runs
# with its own source list, package lists and download folder under DEST, and the packages are unpacked with
# dpkg -x. Debian 12's own Mesa 22.3 is too old for Dawn, so the driver comes from <codename>-backports, on
# the Debian mirror that the system's apt sources already use.
#
# Usage: scripts/setup-vulkan-sw.sh [DEST]        (default DEST: .tmp/vulkan-sw)
#   then: . DEST/env.sh   (sets VK_ICD_FILENAMES, VK_DRIVER_FILES, LD_LIBRARY_PATH)
# Exit status: 0 ready; 3 the packages cannot be fetched here (one line on stderr says why); 1 other errors.
set -euo pipefail

DEST="${1:-.tmp/vulkan-sw}"
mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"

unavailable() {
  echo "setup-vulkan-sw: $*" >&2
  exit 3
}

if [[ -f "$DEST/env.sh" && -f "$DEST/lvp_icd.json" ]] && [[ -n "$(find "$DEST/root" -name libvulkan_lvp.so 2>/dev/null)" ]]; then
  echo "setup-vulkan-sw: already unpacked in $DEST"
  exit 0
fi

command -v apt-get >/dev/null || unavailable "apt-get not found (not a Debian system)"
command -v dpkg >/dev/null || unavailable "dpkg not found"
# shellcheck disable=SC1091
. /etc/os-release
CODENAME="${VERSION_CODENAME:-}"
[[ "${ID:-}" == debian && -n "$CODENAME" ]] || unavailable "not Debian (ID=${ID:-?}); install Mesa >= 24 (mesa-vulkan-drivers) and libvulkan1 from your distribution"

# Find the Debian mirror and keyring of the configured "<codename>" suite, in deb822 (*.sources) or one-line
# (sources.list, *.list) form, skipping the security archive.
find_debian_source() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v suite="$CODENAME" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && uris != "" && uris !~ /security/) {
          n = split(suites, s, " ")
          for (i = 1; i <= n; i++) if (s[i] == suite) { split(uris, u, " "); print u[1] "\t" key; found = 1; exit }
        }
        types = ""; uris = ""; suites = ""; key = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^#/ { next }
      /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
      /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      /^Signed-By:/ { sub(/^Signed-By:[ \t]*/, ""); key = $0 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk -v suite="$CODENAME" '
      $1 == "deb" {
        key = ""; i = 2
        if ($2 ~ /^\[/) {
          while (i <= NF) { if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key); sub(/\]$/, "", key) } if ($i ~ /\]$/) { i++; break } i++ }
        }
        if ($(i + 1) == suite && $i !~ /security/) { print $i "\t" key; exit }
      }
    ' "$f"
  done
}

SOURCE="$(find_debian_source | head -n 1)"
[[ -n "$SOURCE" ]] || unavailable "no '$CODENAME' Debian source in /etc/apt to derive '$CODENAME-backports' from"
MIRROR="${SOURCE%%$'\t'*}"
KEYRING="${SOURCE#*$'\t'}"
[[ -n "$KEYRING" ]] || KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

APT_DIR="$DEST/apt"
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/archives/partial" "$APT_DIR/cache"
echo "deb [signed-by=$KEYRING] $MIRROR $CODENAME-backports main" > "$APT_DIR/backports.list"
# The system's own sources stay (Dir::Etc::SourceParts) so that dependencies resolve from the main suite;
# lists, cache and downloads are private to DEST.
APT_OPTS=(
  -o "Dir::Etc::SourceList=$APT_DIR/backports.list"
  -o "Dir::State::Lists=$APT_DIR/lists"
  -o "Dir::Cache=$APT_DIR/cache"
  -o "Dir::Cache::archives=$APT_DIR/archives"
  -o "Debug::NoLocking=1"
  -o "APT::Get::Assume-Yes=1"
)
echo "setup-vulkan-sw: fetching package lists ($CODENAME, $CODENAME-backports)"
apt-get "${APT_OPTS[@]}" -qq update >"$APT_DIR/update.log" 2>&1 ||
  unavailable "apt-get update failed (see $APT_DIR/update.log): $(grep -m1 -E '^(E|W):' "$APT_DIR/update.log" || true)"
# --download-only against the system's package state: fetches the driver, the loader, and whichever of their
# dependencies the system lacks or has too old.
apt-get "${APT_OPTS[@]}" -qq install --download-only --no-install-recommends -t "$CODENAME-backports" \
  mesa-vulkan-drivers libvulkan1 >"$APT_DIR/download.log" 2>&1 ||
  unavailable "cannot download mesa-vulkan-drivers from $CODENAME-backports (see $APT_DIR/download.log): $(grep -m1 -E '^E:' "$APT_DIR/download.log" || true)"

rm -rf "$DEST/root"
mkdir -p "$DEST/root"
shopt -s nullglob
debs=("$APT_DIR"/archives/*.deb)
# libvulkan1 may already be installed (then apt downloads nothing for it): use the system's loader.
[[ ${#debs[@]} -gt 0 ]] || unavailable "apt downloaded no package"
for deb in "${debs[@]}"; do dpkg -x "$deb" "$DEST/root"; done

LVP="$(find "$DEST/root" -name libvulkan_lvp.so | head -n 1)"
[[ -n "$LVP" ]] || unavailable "the unpacked packages have no libvulkan_lvp.so"
LIBDIR="$(dirname "$LVP")"
MESA_VERSION="$(dpkg-deb -f "$(ls "$APT_DIR"/archives/mesa-vulkan-drivers_*.deb)" Version)"
cat > "$DEST/lvp_icd.json" <<EOF
{ "file_format_version": "1.0.0", "ICD": { "library_path": "$LIBDIR/libvulkan_lvp.so", "api_version": "1.3.0" } }
EOF
cat > "$DEST/env.sh" <<EOF
# Software Vulkan (Mesa $MESA_VERSION lavapipe) for Dawn; written by scripts/setup-vulkan-sw.sh.
export VK_ICD_FILENAMES="$DEST/lvp_icd.json"
export VK_DRIVER_FILES="$DEST/lvp_icd.json"
export LD_LIBRARY_PATH="$LIBDIR\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
rm -f "$APT_DIR"/archives/*.deb
echo "setup-vulkan-sw: Mesa $MESA_VERSION lavapipe unpacked in $DEST; use: . $DEST/env.sh"
