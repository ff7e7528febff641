#!/usr/bin/env bash
# Install the Debian services the test suite uses: PostgreSQL (store tests),
# Chromium + CJK fonts (browser tests). Safe to re-run; skipped when not root.
set -euo pipefail
pkgs=(postgresql chromium fonts-noto-cjk)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "system packages present: ${pkgs[*]}"; exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "not root: install ${missing[*]} with apt-get yourself; their tests will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
