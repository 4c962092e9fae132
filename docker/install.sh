#!/usr/bin/env bash
# Installs what Tradeoff needs on a fresh Debian/Ubuntu machine with Python >= 3.11:
# the measured programs (apt) and the Python packages (pip, editable, with the test extra).
set -euo pipefail
cd "$(dirname "$0")/.."

programs=(x264 cadical gcc)
missing=()
for program in "${programs[@]}"; do
    command -v "$program" >/dev/null 2>&1 || missing+=("$program")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

python3 -m pip install -q -e ".[test,dnn]"
