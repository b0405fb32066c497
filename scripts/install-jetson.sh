#!/usr/bin/env bash
# Install promptsynth on a Jetson (JetPack 5 or 6) as a service that starts at boot.
#
#   scripts/install-jetson.sh [--dry-run] [--prefix DIR] [--no-fetch]
#
# Detects the JetPack release and Python, installs system packages, creates the unprivileged
# user `promptsynth` and udev rules for GPIO and I2C, builds a virtual environment that uses
# NVIDIA's torch (system site packages) with diffusers/transformers/accelerate pinned for that
# torch (constraints/jetpack-*.txt, copied to /etc/promptsynth/constraints.txt),
# installs the service and a default config (an existing config is kept), fetches the default
# model when online, and enables the service. Running it again changes nothing that is already
# right. --dry-run prints every step instead of doing it; --prefix installs the files under DIR
# (for tests: no packages, users, udev or systemctl, and the package without its dependencies).
set -euo pipefail

DRY=0
PREFIX=""
FETCH=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --prefix) PREFIX=${2:?--prefix needs a folder}; shift ;;
    --no-fetch) FETCH=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

SRC=$(cd "$(dirname "$0")/.." && pwd)
APP="$PREFIX/opt/promptsynth"
ETC="$PREFIX/etc/promptsynth"
UNIT_DIR="$PREFIX/etc/systemd/system"
RULES="$PREFIX/etc/udev/rules.d/99-promptsynth.rules"
SERVICE_USER=promptsynth

step() { printf '== %s\n' "$*"; }
run() {
  if [ "$DRY" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}
# put_file DEST MODE: stdin becomes DEST (atomically); an identical file is left alone
put_file() {
  local dest=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
    printf '   %s unchanged\n' "$dest"
    return
  fi
  if [ "$DRY" = 1 ]; then
    printf '+ write %s (mode %s)\n' "$dest" "$mode"
    rm -f "$tmp"
    return
  fi
  mkdir -p "$(dirname "$dest")"
  install -m "$mode" "$tmp" "$dest.new"
  mv -f "$dest.new" "$dest"
  rm -f "$tmp"
  printf '   wrote %s\n' "$dest"
}

step "detecting the platform"
L4T=""
if [ -r /etc/nv_tegra_release ]; then
  L4T=$(sed -n 's/^# R\([0-9]*\) (release), REVISION: \([0-9.]*\).*/\1.\2/p' /etc/nv_tegra_release)
fi
case "$L4T" in
  35.*) JETPACK=5 ;;
  36.*) JETPACK=6 ;;
  "") JETPACK=none ;;
  *) JETPACK=unknown ;;
esac
PY=$(command -v python3)
PYV=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
TORCH=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
echo "   L4T ${L4T:-none} (JetPack $JETPACK), Python $PYV, torch ${TORCH:-not installed}"
if [ "$JETPACK" = none ] && [ -z "$PREFIX" ] && [ "$DRY" = 0 ]; then
  echo "this is not a Jetson: use --prefix DIR or --dry-run to try the installer elsewhere" >&2
  exit 1
fi
if [ -z "$TORCH" ]; then
  echo "   NVIDIA's torch wheel for this JetPack is not installed: the sampler will run, the generator"
  echo "   will not until it is (see NVIDIA's 'PyTorch for Jetson' instructions for JetPack $JETPACK)"
fi

step "pinning the generator's libraries for torch ${TORCH:-none}"
# constraints/ holds one file per JetPack torch; CI tests each of them (scripts/test.sh)
case "$TORCH" in
  2.0.*) CONSTRAINTS=jetpack-5.1.1.txt ;;        # diffusers <= 0.31: 0.32 needs torch.float8_e4m3fn
  2.1.*) CONSTRAINTS=jetpack-5.1.2.txt ;;        # diffusers <= 0.35.2: 0.36 needs torch.xpu
  *) CONSTRAINTS=jetpack-5.1.2.txt
     echo "   no constraints made for torch ${TORCH:-none}: using those for torch 2.1" ;;
esac
echo "   constraints/$CONSTRAINTS"
# one flat file: the -c lines (constraints/python-3.8.txt, the web page's pins) written in place
flatten() {
  local line
  while IFS= read -r line; do
    case "$line" in
      "-c "*) cat "$SRC/constraints/${line#-c }" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done <"$1"
}
flatten "$SRC/constraints/$CONSTRAINTS" | put_file "$ETC/constraints.txt" 0644

if [ -z "$PREFIX" ]; then
  step "system packages"
  run apt-get install -y --no-install-recommends python3-venv python3-dev gcc libasound2-dev alsa-utils \
    libsndfile1 i2c-tools linux-libc-dev

  step "the service user and its groups"
  # the groups are the unit's SupplementaryGroups (one list): a group missing there stops the unit
  GROUPS_CSV=$(sed -n 's/^SupplementaryGroups=//p' "$SRC/systemd/promptsynth.service" | tr ' ' ',')
  for g in ${GROUPS_CSV//,/ }; do
    getent group "$g" >/dev/null || run groupadd --system "$g"
  done
  if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    run useradd --system --home-dir /var/lib/promptsynth --shell /usr/sbin/nologin \
      --groups "$GROUPS_CSV" "$SERVICE_USER"
  else
    run usermod -a -G "$GROUPS_CSV" "$SERVICE_USER"
  fi
fi

step "udev rules: GPIO and I2C for the gpio and i2c groups"
put_file "$RULES" 0644 <<'EOF'
# promptsynth: the service user reaches the panel's hardware through these groups
SUBSYSTEM=="i2c-dev", GROUP="i2c", MODE="0660"
SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"
EOF
if [ -z "$PREFIX" ]; then
  run udevadm control --reload-rules
  run udevadm trigger
fi

step "virtual environment on the system's (NVIDIA's) torch"
if [ ! -x "$APP/venv/bin/python" ]; then
  run "$PY" -m venv --system-site-packages "$APP/venv"
fi
if [ -n "$PREFIX" ]; then
  run "$APP/venv/bin/python" -m pip install -q --no-deps "$SRC"
else
  run "$APP/venv/bin/python" -m pip install -q --upgrade pip
  run "$APP/venv/bin/python" -m pip install -q -c "$ETC/constraints.txt" "${SRC}[device,generator]"
fi

step "default config (an existing one is kept)"
if [ -f "$ETC/config.toml" ]; then
  echo "   $ETC/config.toml kept"
else
  put_file "$ETC/config.toml" 0644 <"$SRC/config/promptsynth.toml"
fi

step "the service"
put_file "$UNIT_DIR/promptsynth.service" 0644 <"$SRC/systemd/promptsynth.service"

if [ "$FETCH" = 1 ] && [ -n "$TORCH" ]; then
  step "the default model (needs the network once)"
  if [ "$DRY" = 1 ]; then
    printf '+ %s\n' "$APP/venv/bin/promptsynth models fetch audioldm2"
  elif ! "$APP/venv/bin/promptsynth" --version >/dev/null 2>&1; then
    echo "   skipped: the package is not installed"
  elif ! "$APP/venv/bin/promptsynth" models fetch audioldm2 --config "$ETC/config.toml"; then
    echo "   offline or failed: fetch it later with: $APP/venv/bin/promptsynth models fetch audioldm2"
  fi
fi

if [ -z "$PREFIX" ]; then
  step "enabling the service"
  run systemctl daemon-reload
  run systemctl enable promptsynth.service
  echo "   start it now with: systemctl start promptsynth; check it with: promptsynth doctor"
fi
step "done"
