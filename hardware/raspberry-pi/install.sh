#!/usr/bin/env bash
# Installs Canopy on a Raspberry Pi (Raspberry Pi OS bookworm, arm64) from this checkout:
#   - checks Node.js >= 20,
#   - a system user `canopy` in the dialout group (serial radios), home /var/lib/canopy,
#   - /var/lib/canopy (data), /etc/canopy/canopy.yaml (a sample, never overwritten) and
#     /etc/canopy/canopy.env (secrets for the service, mode 0600),
#   - the app in /opt/canopy: the release build (npm ci, npm run build) with its production
#     dependencies only (npm prune --omit=dev), /usr/local/bin/canopy,
#   - the systemd unit and the udev rules, then reloads systemd and udev.
#
# Usage: sudo hardware/raspberry-pi/install.sh [--root DIR] [--skip-npm] [--offline]
#   --root DIR   install into DIR as if it were / (a staging tree or an image being prepared);
#                also CANOPY_ROOT=DIR. The user entries are then written into DIR/etc/passwd,
#                group, shadow and gshadow by this script (useradd --prefix needs root and reads
#                the host's login.defs), so it runs unprivileged and never touches the host;
#                nothing is chowned, and systemd/udev are not reloaded.
#   --skip-npm   run neither npm nor the build: /opt/canopy gets the sources (build there later).
#   --offline    npm --offline: only from npm's local cache.
# CANOPY_NODE names the node binary to check and to put in the unit (default: node on PATH).
set -euo pipefail

ROOT="${CANOPY_ROOT:-/}"
SKIP_NPM=0
OFFLINE=0
NODE="${CANOPY_NODE:-node}"

say() { echo "canopy install: $*"; }
die() { echo "canopy install: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT="$2"; shift 2 ;;
    --root=*) ROOT="${1#--root=}"; shift ;;
    --skip-npm) SKIP_NPM=1; shift ;;
    --offline) OFFLINE=1; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[ -f "$SRC/package.json" ] && [ -f "$SRC/bin/canopy.js" ] || die "run this script from a Canopy checkout (no package.json in $SRC)"

# --- Node.js ---------------------------------------------------------------------------------
NODE_BIN="$(command -v "$NODE" || true)"
[ -n "$NODE_BIN" ] || die "Node.js not found. Canopy needs Node.js 20 or newer (Raspberry Pi OS bookworm's own nodejs package is 18: install Node 20 or 22 from NodeSource, see docs/raspberry-pi.md)"
NODE_VERSION="$("$NODE_BIN" -p 'process.versions.node')"
[ "${NODE_VERSION%%.*}" -ge 20 ] 2>/dev/null || die "Node.js $NODE_VERSION at $NODE_BIN is too old: Canopy needs 20 or newer (Raspberry Pi OS bookworm's own nodejs package is 18: install Node 20 or 22 from NodeSource, see docs/raspberry-pi.md)"
say "Node.js $NODE_VERSION at $NODE_BIN"

# --- where -----------------------------------------------------------------------------------
if [ "$ROOT" = "/" ]; then
  R=""
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0), or give --root DIR to stage an install tree"
else
  mkdir -p "$ROOT"
  R="$(cd "$ROOT" && pwd)"
  [ "$R" != "/" ] || R=""
fi
say "installing into ${R:-/}"
APP="$R/opt/canopy"
ETC="$R/etc/canopy"
DATA="$R/var/lib/canopy"

# --- the canopy user -------------------------------------------------------------------------
# Debian's dialout group is gid 20 (base-passwd); serial devices are root:dialout 0660.
add_user_to_files() {
  local etc="$1/etc"
  mkdir -p "$etc"
  touch "$etc/passwd" "$etc/group"
  if ! grep -q '^dialout:' "$etc/group"; then echo "dialout:x:20:" >>"$etc/group"; fi
  if ! grep -q '^canopy:' "$etc/passwd"; then
    # A system id like useradd --system's: the highest free one from 999 down (SYS_UID_MAX).
    local id=999
    while cut -d: -f3 "$etc/passwd" | grep -qx "$id" || cut -d: -f3 "$etc/group" | grep -qx "$id"; do id=$((id - 1)); done
    [ "$id" -ge 100 ] || die "no free system uid in $etc/passwd"
    grep -q '^canopy:' "$etc/group" || echo "canopy:x:$id:" >>"$etc/group"
    local gid
    gid="$(grep '^canopy:' "$etc/group" | cut -d: -f3)"
    echo "canopy:x:$id:$gid:Canopy ground station:/var/lib/canopy:/usr/sbin/nologin" >>"$etc/passwd"
    if [ -f "$etc/shadow" ]; then echo "canopy:!:::::::" >>"$etc/shadow"; fi
    if [ -f "$etc/gshadow" ] && ! grep -q '^canopy:' "$etc/gshadow"; then echo "canopy:!::" >>"$etc/gshadow"; fi
  fi
  # dialout membership: append to the member list unless already there.
  awk -F: -v OFS=: '$1 == "dialout" { n = split($4, m, ","); found = 0; for (i = 1; i <= n; i++) if (m[i] == "canopy") found = 1; if (!found) $4 = ($4 == "" ? "canopy" : $4 ",canopy") } { print }' "$etc/group" >"$etc/group.canopy-new"
  cat "$etc/group.canopy-new" >"$etc/group"
  rm -f "$etc/group.canopy-new"
}

if [ -z "$R" ]; then
  getent group dialout >/dev/null || groupadd --system dialout
  if id canopy >/dev/null 2>&1; then
    usermod -aG dialout canopy
  else
    useradd --system --user-group --groups dialout --home-dir /var/lib/canopy --no-create-home --shell /usr/sbin/nologin --comment "Canopy ground station" canopy
  fi
else
  add_user_to_files "$R"
fi
say "user canopy (groups: canopy, dialout)"

# --- directories and configuration -----------------------------------------------------------
install -d -m 0750 "$DATA"
install -d -m 0755 "$ETC"
if [ -e "$ETC/canopy.yaml" ]; then
  say "keeping the existing $ETC/canopy.yaml"
else
  install -m 0640 "$SRC/hardware/raspberry-pi/canopy.yaml" "$ETC/canopy.yaml"
  say "sample configuration in $ETC/canopy.yaml"
fi
if [ ! -e "$ETC/canopy.env" ]; then
  install -m 0600 /dev/null "$ETC/canopy.env"
  printf '%s\n' '# Secrets for the canopy service (systemd EnvironmentFile; root-only). They win over canopy.yaml.' '#CANOPY_RELAY_PASSWORD=' '#CANOPY_REDIS_PASSWORD=' >"$ETC/canopy.env"
fi
if [ -z "$R" ]; then
  chown -R canopy:canopy "$DATA"
  chown root:canopy "$ETC/canopy.yaml"
fi

# --- the app ---------------------------------------------------------------------------------
# The release is built in the new copy: npm ci (with the development tools), npm run build (the
# TypeScript compiled to dist/, the dashboard bundled), then npm prune --omit=dev and the sources
# removed, so /opt/canopy runs plain JavaScript with its production dependencies only.
say "copying the app to $APP"
rm -rf "$APP.new"
mkdir -p "$APP.new"
tar -C "$SRC" --exclude=./node_modules --exclude=./.git --exclude=./test --exclude=./test-output --exclude=./canopy-data --exclude=./dist --exclude=./.scratch --exclude='*.tlog' -cf - . | tar -C "$APP.new" -xf -

if [ "$SKIP_NPM" -eq 1 ]; then
  say "skipping npm ci and the build (--skip-npm): $APP holds the sources; build there with npm ci && npm run build && npm prune --omit=dev"
else
  NPM_FLAGS=(--no-audit --no-fund)
  [ "$OFFLINE" -eq 1 ] && NPM_FLAGS+=(--offline)
  # better-sqlite3 fetches a prebuilt binary for linux-arm64 (or compiles from source: needs
  # build-essential and python3); serialport's binaries ship inside its npm package.
  say "installing the dependencies to build with (npm ci ${NPM_FLAGS[*]})"
  (cd "$APP.new" && npm ci "${NPM_FLAGS[@]}")
  say "building the release (npm run build)"
  (cd "$APP.new" && npm run --silent build)
  say "keeping the production dependencies only (npm prune --omit=dev)"
  (cd "$APP.new" && npm prune --omit=dev "${NPM_FLAGS[@]}")
  # What runs is dist/: the TypeScript sources and the compiler's settings stay behind.
  find "$APP.new" -path "$APP.new/node_modules" -prune -o -path "$APP.new/dist" -prune -o -name '*.ts' -type f -exec rm -f {} +
  rm -f "$APP.new"/tsconfig*.json
  find "$APP.new" -mindepth 1 -type d -empty -not -path "$APP.new/node_modules/*" -delete
  # A native addon compiled here leaves its object files beside the addon (node-gyp's build/Release/obj*,
  # static archives, better-sqlite3's test extension): only the loadable .node files are used.
  find "$APP.new/node_modules" -type d -path '*/build/Release' | while read -r rel; do
    rm -rf "$rel/obj" "$rel/obj.target" "$rel/.deps" "$rel/test_extension.node"
    find "$rel" -maxdepth 1 -name '*.a' -type f -delete
  done
  say "production install: $(du -sm "$APP.new/node_modules" | cut -f1) MB in node_modules"
fi

rm -rf "$APP.old"
if [ -e "$APP" ]; then mv "$APP" "$APP.old"; fi
mv "$APP.new" "$APP"
rm -rf "$APP.old"
chmod 0755 "$APP/bin/canopy.js"
mkdir -p "$R/usr/local/bin"
ln -sfn /opt/canopy/bin/canopy.js "$R/usr/local/bin/canopy"

# --- systemd unit and udev rules -------------------------------------------------------------
install -d -m 0755 "$R/etc/systemd/system" "$R/etc/udev/rules.d"
sed "s#^ExecStart=/usr/bin/node #ExecStart=$NODE_BIN #" "$SRC/hardware/raspberry-pi/canopy.service" >"$R/etc/systemd/system/canopy.service"
chmod 0644 "$R/etc/systemd/system/canopy.service"
install -m 0644 "$SRC/hardware/raspberry-pi/99-canopy-radios.rules" "$R/etc/udev/rules.d/99-canopy-radios.rules"
say "systemd unit and udev rules installed"

if [ -z "$R" ]; then
  systemctl daemon-reload
  udevadm control --reload
  udevadm trigger --subsystem-match=tty --action=add
fi

if [ "$SKIP_NPM" -eq 0 ]; then "$NODE_BIN" "$APP/bin/canopy.js" config check "$ETC/canopy.yaml"; fi

say "done. Next: edit /etc/canopy/canopy.yaml (radios: ls /dev/canopy-*), canopy config check, canopy doctor,"
say "then: systemctl enable --now canopy && journalctl -u canopy -f   (the mesh admin's password is printed once)"
