"""Live x264: encode a clip under one configuration and read time, size, PSNR and SSIM."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from systems.base import MeasurementFailed, System, cache_dir, render_flags, run_process
from tradeoff.environment import usable_cores
from tradeoff.errors import TradeoffError

CLIP = re.compile(r"^clip-(\d+)x(\d+)-(\d+)$")
THREADS = re.compile(r"^threads-(\d+)$")
SSIM = re.compile(r"SSIM Mean Y:([\d.]+)")
PSNR = re.compile(r"PSNR Mean .*Global:([\d.]+)")


def write_clip(path: Path, width: int, height: int, frames: int, seed: int = 0) -> None:
    """A deterministic YUV 4:2:0 clip with real motion: a drifting texture and moving blocks."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(16, 235, size=(height + 64, width + 64)).astype(np.uint8)
    texture = ((texture.astype(np.uint16) + np.roll(texture, 1, 0) + np.roll(texture, 1, 1)) // 3).astype(np.uint8)
    chroma = np.full((height // 2, width // 2), 128, dtype=np.uint8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            luma = texture[i % 64:i % 64 + height, (2 * i) % 64:(2 * i) % 64 + width].copy()
            for k in range(3):
                y, x = (17 * k + 3 * i) % (height - 16), (29 * k + 5 * i) % (width - 16)
                luma[y:y + 16, x:x + 16] = 40 + 70 * k
            noise = rng.integers(-3, 4, size=luma.shape)
            out.write(b"FRAME\n" + np.clip(luma + noise, 0, 255).astype(np.uint8).tobytes()
                      + chroma.tobytes() + chroma.tobytes())
    os.replace(tmp, path)


def clip_cache() -> Path:
    folder = cache_dir("clips")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class X264(System):
    threads: int | None = None  # set by a threads-N environment: every encode uses --threads N

    @classmethod
    def spec_arguments(cls, spec: dict, environment: str) -> dict:
        """Any environment name labels the machine; ``threads-N`` also pins the thread setting
        (the threads option leaves the space, and each encode gets N cores of its own)."""
        match = THREADS.match(environment)
        threads = int(match.group(1)) if match else None
        if threads == 0:
            raise TradeoffError("environment threads-0 has no threads; use threads-N with N >= 1 (e.g. threads-1, threads-2)")
        if threads:
            spec = {**spec, "options": [o for o in spec["options"] if o["name"] != "threads"]}
        return {**super().spec_arguments(spec, environment), "cores_per_run": threads or 1, "threads": threads}

    def check(self) -> None:
        if shutil.which("x264") is None:
            raise TradeoffError("the x264 program is not installed; install it (e.g. 'apt-get install x264')")
        if self.threads and self.threads > len(usable_cores()):
            raise TradeoffError(f"environment {self.environment} pins each encode to {self.threads} cores, but only "
                                f"{len(usable_cores())} are usable here; use threads-1 .. threads-{len(usable_cores())}")

    def check_workload(self, workload: str) -> str:
        if workload.endswith(".y4m"):
            if not Path(workload).is_file():
                raise TradeoffError(f"workload file {workload} does not exist; give a readable .y4m file")
            return str(Path(workload).resolve())
        if workload in self.workloads or CLIP.match(workload):
            return workload
        raise TradeoffError(f"x264 has no workload {workload!r}; use clip-WxH-FRAMES (e.g. clip-352x288-32) or a .y4m file")

    def program_version(self) -> str:
        try:
            return subprocess.run(["x264", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "unknown"

    def input_file(self, workload: str) -> Path:
        match = CLIP.match(workload)
        if not match:
            return Path(workload)
        path = clip_cache() / f"{workload}.y4m"
        if not path.exists():
            write_clip(path, *map(int, match.groups()))
        return path

    def flags(self, config: dict) -> list[str]:
        """The configuration's flags, and the environment's pinned thread count."""
        return render_flags(self.space, config) + (["--threads", str(self.threads)] if self.threads else [])

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        source = self.input_file(workload)
        with tempfile.TemporaryDirectory(prefix="tradeoff-x264-") as work:
            output = Path(work) / "out.264"
            result = run_process(["x264", *self.flags(config), "--psnr", "--ssim",
                                  "-o", str(output), str(source)], timeout, cpus, cwd=work)
            ssim, psnr = SSIM.search(result.stderr), PSNR.search(result.stderr)
            if not (ssim and psnr and output.exists()):
                raise MeasurementFailed("x264 printed no PSNR/SSIM summary: " + result.stderr.strip()[-300:])
            return {"time": result.wall_s, "cpu_time": result.cpu_s, "size": output.stat().st_size,
                    "psnr": float(psnr.group(1)), "ssim": float(ssim.group(1))}

