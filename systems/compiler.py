"""Live gcc: compile a shipped C kernel under one set of flags, run it, check its output."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from systems.base import MeasurementFailed, System, cache_dir, render_flags, run_process
from tradeoff.errors import TradeoffError

KERNELS = Path(__file__).with_name("kernels")
CHECKSUM = re.compile(r"^checksum (\S+)$", re.MULTILINE)


def checksum(stdout: str) -> float:
    match = CHECKSUM.search(stdout)
    if match is None:
        raise MeasurementFailed("the kernel printed no checksum: " + stdout.strip()[-200:])
    return float(match.group(1))


class Compiler(System):
    def check(self) -> None:
        if shutil.which("gcc") is None:
            raise TradeoffError("gcc is not installed; install it (e.g. 'apt-get install gcc')")

    def check_workload(self, workload: str) -> str:
        if workload not in self.spec["kernels"]:
            raise TradeoffError(f"gcc has no workload {workload!r}; its kernels: {', '.join(self.spec['kernels'])}")
        return workload

    def program_version(self) -> str:
        try:
            return subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "unknown"

    def reference(self, workload: str, timeout: float) -> float:
        """The kernel's checksum built at -O0, computed once per gcc version and source."""
        kernel = self.spec["kernels"][workload]
        source = KERNELS / kernel["source"]
        key = hashlib.sha1(f"{self.program_version()}|{source.read_text()}|{kernel['args']}".encode()).hexdigest()[:16]
        cached = cache_dir("gcc", f"{workload}-{key}")
        if not cached.exists():
            with tempfile.TemporaryDirectory(prefix="tradeoff-gcc-ref-") as work:
                binary = Path(work) / "kernel"
                run_process(["gcc", "-O0", "-o", str(binary), str(source), "-lm"], timeout, [])
                value = checksum(run_process([str(binary), *map(str, kernel["args"])], timeout * 10, []).stdout)
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(f".{cached.name}.{os.getpid()}")
            partial.write_text(repr(value))
            os.replace(partial, cached)
        return float(cached.read_text())

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        kernel = self.spec["kernels"][workload]
        expected = self.reference(workload, timeout)
        with tempfile.TemporaryDirectory(prefix="tradeoff-gcc-") as work:
            binary = Path(work) / "kernel"
            built = run_process(["gcc", *render_flags(self.space, config), "-o", str(binary), str(KERNELS / kernel["source"]), "-lm"],
                                timeout, cpus, cwd=work)
            ran = run_process([str(binary), *map(str, kernel["args"])], timeout, cpus, cwd=work)
            value = checksum(ran.stdout)
            if not abs(value - expected) <= float(kernel["tolerance"]) * abs(expected):
                raise MeasurementFailed(f"wrong output: checksum {value!r}, the -O0 build gives {expected!r} (tolerance {kernel['tolerance']})")
            return {"time": ran.wall_s, "compile_time": built.wall_s, "binary_size": code_size(binary, timeout)}


def code_size(binary: Path, timeout: float) -> int:
    """Bytes of code and initialised data (binutils' ``size``): the file's own size is padded to
    whole pages, so flags that change the code by a few hundred bytes would not show in it."""
    text, data = run_process(["size", str(binary)], timeout, []).stdout.splitlines()[1].split()[:2]
    return int(text) + int(data)

