"""Live stream processing with Apache Flink (PyFlink): a word count on a local mini-cluster per run.

PyFlink pins numpy, pandas and pyarrow below Tradeoff's, so it lives in a virtual environment
of its own (``install``; ``python3 -m systems.flink`` runs it) and the job, systems/flink_job.py,
runs with that environment's python. Each run gets a private network namespace, so the ports
that Flink and its Python workers open on every address stay unreachable, and a scratch folder
for every temporary file, removed afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from systems.base import System, cache_dir, option_text, run_process
from tradeoff.errors import TradeoffError
from tradeoff.space import Space

FLINK_VERSION = "2.3.0"
JOB = Path(__file__).with_name("flink_job.py")
WORKLOAD = re.compile(r"^wordcount-(\d+)([km]?)$")
# Bring up loopback in a fresh network namespace (user-mapped, so it needs no root), then run.
PRIVATE_NETWORK = ["unshare", "--net", "--map-root-user", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def venv_dir() -> Path:
    return cache_dir("flink-venv")


def venv_python() -> Path:
    return venv_dir() / "bin" / "python"


def install() -> Path:
    """Create the Flink virtual environment (about 850 MB, a minute or two) unless it exists."""
    if not venv_python().exists():
        partial = venv_dir().with_name(f".flink-venv-{os.getpid()}")  # renamed when complete
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(partial)], check=True)
        subprocess.run([str(partial / "bin" / "python"), "-m", "pip", "install", "-q", f"apache-flink=={FLINK_VERSION}"], check=True)
        os.replace(partial, venv_dir())
    return venv_python()


def installed_version() -> str | None:
    found = sorted(venv_dir().glob("lib/python*/site-packages/apache_flink-*.dist-info"))
    return found[-1].name.removesuffix(".dist-info").split("-")[1] if found else None


def records(workload: str) -> int:
    match = WORKLOAD.match(workload)
    if not match or int(match.group(1)) < 1:
        raise TradeoffError(f"flink workload {workload!r} is not wordcount-RECORDS (e.g. wordcount-200k, wordcount-1m)")
    return int(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)]


def flink_settings(space: Space, config: dict) -> dict[str, str]:
    """Flink's configuration for a configuration: each option's key (and its `also` keys) -> value."""
    settings = {}
    for option in space.options:
        value = config[option.name]
        text = option_text(option, value) + option.extra.get("suffix", "")
        for key in [option.name, *option.extra.get("also", [])]:
            settings[key] = text
    return settings


class Flink(System):
    def check(self) -> None:
        if shutil.which("java") is None:
            raise TradeoffError("the flink system needs Java 11 or later; install it (e.g. 'apt-get install openjdk-17-jre-headless')")
        if shutil.which("unshare") is None or shutil.which("ip") is None:
            raise TradeoffError("the flink system runs each job in a private network with unshare and ip; install them (e.g. 'apt-get install util-linux iproute2')")
        if not venv_python().exists():
            raise TradeoffError(f"the flink system needs PyFlink in its own virtual environment, missing at {venv_dir()}; create it with: python3 -m systems.flink")
        if subprocess.run([*PRIVATE_NETWORK, "true"], capture_output=True).returncode != 0:
            raise TradeoffError("the flink system cannot create a private network namespace here ('unshare --net --map-root-user' failed); allow user namespaces or run as root")

    def check_workload(self, workload: str) -> str:
        records(workload)
        return workload

    def program_version(self) -> str:
        return f"apache-flink {installed_version() or 'missing'}; {os.cpu_count()} cores"

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        scratch_root = cache_dir("flink-scratch")
        scratch_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch_root) as scratch:
            settings = {**flink_settings(self.space, config), "io.tmp.dirs": scratch, "python.executable": str(venv_python())}
            # The JVM writes jars and perf data to its own temp folder and /tmp unless told otherwise.
            env = {**os.environ, "TMPDIR": scratch, "FLINK_LOG_DIR": scratch,
                   "JAVA_TOOL_OPTIONS": f"-Djava.io.tmpdir={scratch} -XX:-UsePerfData"}
            result = run_process([*PRIVATE_NETWORK, str(venv_python()), str(JOB), json.dumps(settings), str(records(workload))],
                                 timeout, cpus, env=env)
        return result.metrics("the Flink job")


if __name__ == "__main__":
    print(f"PyFlink {FLINK_VERSION} ready: {install()}")
