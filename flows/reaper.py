"""Leave nothing behind when a command is killed: a watcher that ends the command's processes.

A measuring command starts a local Ray (a GCS server, a raylet, agents, workers), a temporary
Prefect server and the measured programs. Ctrl-C ends them (``flows.cli``), but SIGKILL gives the
command no chance, and they kept running. So the command starts this watcher in a session of its
own: it notes the command's descendants every ``EVERY_S`` while the command lives and, once it is
gone, kills those still running and their descendants (by then reparented, so noted beforehand).
psutil's process handles know their start time, so a reused process id is never killed.

Run as ``python flows/reaper.py PID`` (it imports nothing of Tradeoff, so it needs no installed package).
"""

from __future__ import annotations

import os
import sys
import time

import psutil

EVERY_S = 0.5


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def watch(pid: int) -> None:
    """Note ``pid``'s descendants until it ends, then kill those that outlived it."""
    try:
        command = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    noted: dict[int, psutil.Process] = {}
    while _alive(command):
        try:
            for child in command.children(recursive=True):
                noted.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            break
        time.sleep(EVERY_S)
    victims: list[psutil.Process] = []
    for process in noted.values():
        if process.pid != os.getpid() and _alive(process):
            try:
                victims += [process, *process.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
    for process in victims:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


if __name__ == "__main__":
    watch(int(sys.argv[1]))
