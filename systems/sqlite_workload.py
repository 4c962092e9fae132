"""The measured process of the sqlite system: one workload under one set of PRAGMAs.

Run as a script (``python sqlite_workload.py WORKLOAD CONFIG_JSON FOLDER``); it imports only the
standard library so that start-up stays small, and prints the metrics as JSON.
"""

import json
import random
import re
import sqlite3
import sys
import time
from pathlib import Path

BATCH = 1000
VALUE = b"x" * 100


def open_database(path: Path, config: dict) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    # auto_vacuum and page_size take effect only before the first table exists.
    db.execute(f"PRAGMA auto_vacuum = {config['auto_vacuum']}")
    db.execute(f"PRAGMA page_size = {int(config['page_size'])}")
    db.execute(f"PRAGMA cache_size = {-int(config['cache_size'])}")
    db.execute(f"PRAGMA journal_mode = {config['journal_mode']}")
    db.execute(f"PRAGMA synchronous = {config['synchronous']}")
    db.execute(f"PRAGMA temp_store = {config['temp_store']}")
    db.execute(f"PRAGMA locking_mode = {config['locking_mode']}")
    db.execute(f"PRAGMA mmap_size = {int(config['mmap_size'])}")
    db.execute(f"PRAGMA wal_autocheckpoint = {int(config['wal_autocheckpoint'])}")
    db.execute(f"PRAGMA cache_spill = {int(config['cache_spill'])}")
    db.execute(f"PRAGMA secure_delete = {int(config['secure_delete'])}")
    db.execute(f"PRAGMA automatic_index = {int(config['automatic_index'])}")
    db.execute(f"PRAGMA threads = {int(config['threads'])}")
    db.execute("CREATE TABLE kv (key INTEGER PRIMARY KEY, value BLOB)")
    return db


def write(db: sqlite3.Connection, keys: list[int], per_transaction: int) -> None:
    for start in range(0, len(keys), per_transaction):
        db.execute("BEGIN")
        db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", ((k, VALUE) for k in keys[start:start + per_transaction]))
        db.execute("COMMIT")


def run_workload(workload: str, config: dict, folder: Path) -> dict[str, float]:
    """Time the workload's operation; tables that it reads are filled first, untimed."""
    operation, rows = re.match(r"^([a-z]+)-(\d+)$", workload).groups()
    rows = int(rows)
    rng = random.Random(0)
    db = open_database(folder / "bench.db", config)
    shuffled = rng.sample(range(rows), rows)
    if operation in ("overwrite", "readrandom", "readseq"):
        write(db, list(range(rows)), BATCH)
    clock = time.perf_counter()
    if operation == "fillseq":
        write(db, list(range(rows)), 1)
    elif operation == "fillrandom":
        write(db, shuffled, 1)
    elif operation == "fillseqbatch":
        write(db, list(range(rows)), BATCH)
    elif operation == "overwrite":
        write(db, shuffled, 1)
    elif operation == "readrandom":
        for key in shuffled:
            db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    else:
        for _ in db.execute("SELECT key, value FROM kv ORDER BY key"):
            pass
    elapsed = time.perf_counter() - clock
    db.close()
    return {"us_per_op": elapsed / rows * 1e6}


if __name__ == "__main__":
    print(json.dumps(run_workload(sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3]))))
