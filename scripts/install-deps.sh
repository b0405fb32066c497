#!/usr/bin/env bash
# System packages for building and testing promptsynth on a Debian/Ubuntu machine:
# ALSA headers (pyalsaaudio), ALSA tools and plugins (file/jack taps), jackd2 (paced audio and
# MIDI without hardware), libsndfile (soundfile), Chromium and its driver (the web page's browser
# tests: Debian's build, as no browser can be downloaded). Installs only what is missing.
set -euo pipefail
pkgs=(gcc libasound2-dev alsa-utils libasound2-plugins jackd2 libsndfile1 linux-libc-dev systemd shellcheck
  chromium chromium-driver)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "system packages: installing ${missing[*]}"
$SUDO apt-get update -qq
# jackd2 asks a debconf question about real-time priority: answer it non-interactively
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
