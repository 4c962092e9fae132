#!/usr/bin/env bash
# Installs what Tradeoff needs on a fresh Debian/Ubuntu machine with Python >= 3.11:
# the measured programs (apt), the Python packages (pip, editable, with the test extra) and
# PyFlink in a virtual environment of its own (its pins clash with Tradeoff's numpy and pandas).
set -euo pipefail
cd "$(dirname "$0")/.."

# program:Debian package (chromium: the headless browser the report and MLflow UI tests open pages in)
programs=(x264:x264 cadical:cadical gcc:gcc java:openjdk-17-jre-headless ip:iproute2 unshare:util-linux chromium:chromium)
missing=()
for entry in "${programs[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

python3 -m pip install -q -e ".[test,dnn]"
python3 -m systems.flink
