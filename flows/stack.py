"""The one-machine cluster: every server a scheduled campaign uses, started on 127.0.0.1.

A cluster is several machines; this harness makes its shape on one, so that a user can try
``tradeoff deploy`` and a test can kill parts of it: PostgreSQL (MLflow's store), an MLflow
server on it that serves its artifacts itself (optionally behind basic auth), a Prefect server,
a Ray head that runs nothing (``--num-cpus 0``), two Ray worker nodes pinned to one core each
(``taskset``) and labelled ``tradeoff-environment=<env>,tradeoff-node=<name>``, and a Prefect
worker (``tradeoff worker``) for the work pool. ``docker/compose.yaml`` is the same stack for
real machines (tests/test_compose.py keeps the two alike).

Every process starts in a session of its own; the harness records its process group and later
kills those groups, and nothing else: never by name, never ``ray stop`` (which stops every Ray on
the machine). Ray's token auth is set explicitly (Ray turns it on when ``~/.ray/auth_token``
exists) and nodes bind loopback with ``--node-ip-address 127.0.0.1``
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` would refuse the second node).

    python3 -m flows.stack up --dir D      # start, write D/stack.json and D/env.sh, print the exports
    python3 -m flows.stack down --dir D    # kill what D/stack.json records
    with Stack(D) as stack: ...            # the same in Python (tests)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tradeoff.errors import TradeoffError

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")  # Debian's postgresql-15
ROOT = Path(__file__).resolve().parent.parent  # the source tree: the worker's PYTHONPATH
START_S = 180.0  # how long a server has to listen on its port (Prefect's takes ~40 s on a loaded 2-core machine)
STOP_S = 10.0
POOL = "tradeoff"
MLFLOW_USER = "tradeoff"
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # its GenAI job runners (8 processes) serve nothing here
log = logging.getLogger(__name__)


_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now on loopback, never one handed out before by this process (the OS may offer it again)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def ray_node_options() -> list[str]:
    """``ray start`` options shared by every node started here: in the foreground (killed by its group),
    on loopback, and with ports of its own (several Ray nodes share this machine, and other users' Ray too)."""
    return ["--block", "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
            "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-agent-grpc-port", str(free_port()), "--runtime-env-agent-port", str(free_port())]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Stack:
    """The servers of one cluster on 127.0.0.1, their state in ``folder`` (``stack.json``, logs, data)."""

    folder: Path
    environment: str = "local"
    nodes: tuple[str, ...] = ("node-1", "node-2")
    auth: bool = True  # MLflow behind basic auth
    pool: str = POOL
    ports: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    processes: dict[str, dict] = field(default_factory=dict)  # name -> {"pid", "pgid", "created"}

    def __post_init__(self) -> None:
        self.folder = Path(self.folder).resolve()
        if len(self.nodes) > len(os.sched_getaffinity(0)):
            raise TradeoffError(f"{len(self.nodes)} Ray worker nodes need as many cores, this machine lets us use "
                                f"{len(os.sched_getaffinity(0))}; give fewer nodes")

    # Addresses and the environment a user exports ------------------------------------------

    @property
    def postgres_uri(self) -> str:
        return f"postgresql+psycopg2://postgres:{self.secrets['postgres']}@127.0.0.1:{self.ports['postgres']}/mlflow"

    @property
    def mlflow_uri(self) -> str:
        return f"http://127.0.0.1:{self.ports['mlflow']}"

    @property
    def prefect_api(self) -> str:
        return f"http://127.0.0.1:{self.ports['prefect']}/api"

    @property
    def ray_address(self) -> str:
        return f"127.0.0.1:{self.ports['ray']}"

    def ray_auth(self) -> dict[str, str]:
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.secrets["ray"]}

    def client_env(self) -> dict[str, str]:
        """What a user exports to run commands against this stack (``tradeoff campaign``, ``deploy``, ``worker``)."""
        env = {"RAY_ADDRESS": self.ray_address, **self.ray_auth(), "MLFLOW_TRACKING_URI": self.mlflow_uri,
               "PREFECT_API_URL": self.prefect_api}
        if self.auth:
            env |= {"MLFLOW_TRACKING_USERNAME": MLFLOW_USER, "MLFLOW_TRACKING_PASSWORD": self.secrets["mlflow"]}
        return env

    # Starting --------------------------------------------------------------------------------

    def up(self) -> Stack:
        """Start every server, or fail naming the one that did not come up (what started is killed)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if (self.folder / "stack.json").exists():
            raise TradeoffError(f"{self.folder} holds a running stack (stack.json); run "
                                f"'python3 -m flows.stack down --dir {self.folder}' first or give another --dir")
        (self.folder / "logs").mkdir(exist_ok=True)
        for name in ("postgres", "mlflow", "prefect", "ray", "ray-client"):
            self.ports[name] = free_port()
        self.secrets |= {"postgres": secrets.token_hex(12), "mlflow": secrets.token_hex(12),
                         "mlflow-admin": secrets.token_hex(12),
                         "mlflow-csrf": secrets.token_hex(16), "ray": secrets.token_hex(16)}
        try:
            self._postgres()
            self._start("prefect", ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.ports["prefect"])],
                        {"PREFECT_HOME": str(self.folder / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                         "PREFECT_UI_API_URL": self.prefect_api})  # the UI's API is on --port, not its default 4200
            self._ray_head()
            self._mlflow()
            self.wait("ray-head", self.ports["ray"])
            for index, node in enumerate(self.nodes):
                self.start_node(node, index)
                self.wait_for_node(node)
            self.wait("postgres", self.ports["postgres"])
            self.wait("mlflow", self.ports["mlflow"])
            if self.auth:
                self._mlflow_user()
            self.wait("prefect", self.ports["prefect"])
            self.start_worker()
        except BaseException:
            self.down()
            raise
        self.save()
        return self

    def _start(self, name: str, command: list[str], env: dict | None = None, user: str | None = None) -> subprocess.Popen:
        """Start ``command`` in a session of its own (its process group is what ``down`` kills), output to logs/NAME.log."""
        logfile = open(self.folder / "logs" / f"{name}.log", "ab")
        inherited = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}  # it refuses a 2nd node
        process = subprocess.Popen(command, env={**inherited, **(env or {})}, start_new_session=True, stdin=subprocess.DEVNULL,
                                   stdout=logfile, stderr=subprocess.STDOUT, user=user, cwd=self.folder)
        logfile.close()
        self.processes[name] = {"pid": process.pid, "pgid": process.pid, "created": psutil.Process(process.pid).create_time()}
        self.save()
        log.info("stack: started %s (pid %d, log %s)", name, process.pid, self.folder / "logs" / f"{name}.log")
        return process

    def wait(self, name: str, port: int) -> None:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if _listening(port):
                return
            if not self.alive(name):
                raise TradeoffError(f"{name} exited before listening on 127.0.0.1:{port}; see "
                                    f"{self.folder / 'logs' / (name + '.log')}")
            time.sleep(0.3)
        raise TradeoffError(f"{name} did not listen on 127.0.0.1:{port} within {START_S:.0f} s; see "
                            f"{self.folder / 'logs' / (name + '.log')}")

    def _postgres(self) -> None:
        """initdb a folder and run postgres on loopback; as root, both as the ``postgres`` user,
        which must reach the folder (every parent searchable by others)."""
        data, user = self.folder / "postgres", ("postgres" if os.geteuid() == 0 else None)
        if data.exists():
            raise TradeoffError(f"{self.folder} holds a stopped stack's data; remove the folder or give another --dir")
        binary = POSTGRES_BIN if POSTGRES_BIN.is_dir() else Path(shutil.which("postgres") or "postgres").parent
        if not (binary / "initdb").exists():
            raise TradeoffError("PostgreSQL 15 is not installed; run 'apt-get install postgresql' (docker/install.sh does)")
        if user:
            for parent in [self.folder, *self.folder.parents]:
                if not parent.stat().st_mode & 0o001:
                    raise TradeoffError(f"the postgres user cannot reach {self.folder} ({parent} is not searchable by others); "
                                        f"run 'chmod o+x {parent}' or give a --dir under /tmp")
        data.mkdir()
        password = self.folder / "postgres.password"
        password.write_text(self.secrets["postgres"] + "\n")
        if user:
            shutil.chown(data, user)
            shutil.chown(password, user)
        subprocess.run([str(binary / "initdb"), "-D", str(data), "-U", "postgres", "--auth", "scram-sha-256",
                        "--pwfile", str(password), "--encoding", "UTF8"], check=True, user=user, cwd=self.folder,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        password.unlink()
        self._start("postgres", [str(binary / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.ports["postgres"]),
                                 "-k", str(data)], user=user)

    def _database(self, name: str) -> None:
        import psycopg2
        deadline = time.monotonic() + START_S
        while True:  # postgres listens before it accepts connections
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=self.ports["postgres"], user="postgres",
                                              password=self.secrets["postgres"], dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        connection.close()

    def _mlflow(self) -> None:
        self.wait("postgres", self.ports["postgres"])
        self._database("mlflow")
        if self.auth:
            self._database("mlflow_auth")
            (self.folder / "mlflow-auth.ini").write_text(
                "[mlflow]\ndefault_permission = READ\n"
                f"database_uri = {self.postgres_uri}_auth\nadmin_username = admin\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                "auth_cache_ttl_seconds = 60\n")  # a password hash per request is slow on a loaded machine
        self.start_mlflow()

    def start_mlflow(self) -> None:
        """MLflow on the PostgreSQL store (also to start it again after ``kill("mlflow")``)."""
        self._start("mlflow", *self.mlflow_command())

    def mlflow_command(self) -> tuple[list[str], dict[str, str]]:
        """MLflow's command and environment: the PostgreSQL store, an artifact destination the server serves itself."""
        command = ["mlflow", "server", "--backend-store-uri", self.postgres_uri, "--serve-artifacts",
                   "--artifacts-destination", str(self.folder / "mlartifacts"), "--host", "127.0.0.1",
                   "--port", str(self.ports["mlflow"]), "--workers", "1"]
        env = dict(MLFLOW_SERVER_ENV)
        if self.auth:
            command += ["--app-name", "basic-auth"]
            env |= {"MLFLOW_AUTH_CONFIG_PATH": str(self.folder / "mlflow-auth.ini"),
                   "MLFLOW_AUTH_ADMIN_PASSWORD": self.secrets["mlflow-admin"],
                   "MLFLOW_FLASK_SERVER_SECRET_KEY": self.secrets["mlflow-csrf"]}  # the auth app's CSRF key
        return command, env

    def _mlflow_user(self) -> None:
        """The user campaigns log as (the admin's password stays with the stack)."""
        import httpx
        deadline = time.monotonic() + START_S
        while True:  # the auth app answers once its tables exist
            response = httpx.post(f"{self.mlflow_uri}/api/2.0/mlflow/users/create",
                                  json={"username": MLFLOW_USER, "password": self.secrets["mlflow"]},
                                  auth=("admin", self.secrets["mlflow-admin"]), timeout=30)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
        if response.status_code != 200:
            raise TradeoffError(f"MLflow refused to create user {MLFLOW_USER} ({response.status_code} {response.text[:200]}); "
                                f"see {self.folder / 'logs' / 'mlflow.log'}")

    def _ray_env(self) -> dict[str, str]:
        # a loaded machine registers a node slowly: Ray's 10 s default fails a node that would have joined
        return {**self.ray_auth(), "RAY_USAGE_STATS_ENABLED": "0", "RAY_raylet_start_wait_time_s": str(int(START_S))}

    def _ray_head(self) -> None:
        self._start("ray-head", self.ray_head_command(), self._ray_env())

    def ray_head_command(self) -> list[str]:
        return ["ray", "start", "--head", "--port", str(self.ports["ray"]), "--num-cpus", "0",
                "--ray-client-server-port", str(self.ports["ray-client"]), "--include-dashboard", "false",
                "--temp-dir", str(self.temp_dir), *ray_node_options()]

    @property
    def temp_dir(self) -> Path:
        # Ray's unix sockets live here; their paths must stay under 107 bytes, so not under a deep --dir
        return Path("/tmp") / f"tradeoff-ray-{self.ports['ray']}"

    def start_node(self, node: str, index: int | None = None) -> None:
        """A Ray worker node with one CPU, pinned to its own core and labelled with the environment and its name."""
        index = self.nodes.index(node) if index is None else index
        core = sorted(os.sched_getaffinity(0))[index]
        # Its own temporary folder, so its core locks (tasks/measure.py) are its own, as on a machine of its own,
        # and measurements of another Ray on this machine never hold its core.
        scratch = self.folder / "tmp" / node
        scratch.mkdir(parents=True, exist_ok=True)
        self._start(f"ray-{node}", ["taskset", "-c", str(core), *self.ray_node_command(node)],
                    {**self._ray_env(), "TMPDIR": str(scratch)})

    def ray_node_command(self, node: str) -> list[str]:
        return ["ray", "start", "--address", self.ray_address, "--num-cpus", "1", "--labels", self.labels(node),
                *ray_node_options()]

    def labels(self, node: str) -> str:
        """The node's Ray labels: the environment it measures and its name (the contract with tasks/measure.py)."""
        return f"tradeoff-environment={self.environment},tradeoff-node={node}"

    def services(self) -> list[str]:
        """The names of what this stack runs, in the order it stops them (docker/compose.yaml's services too)."""
        return ["prefect-worker", *[f"ray-{n}" for n in self.nodes], "ray-head", "prefect", "mlflow", "postgres"]

    def wait_for_node(self, node: str) -> None:
        """Until ``ray start`` says the node runs (it has registered with the GCS). Nodes start one
        after another: two starting at once on one machine can leave one hanging."""
        logfile, deadline = self.folder / "logs" / f"ray-{node}.log", time.monotonic() + START_S
        while time.monotonic() < deadline:
            if "Ray runtime started" in logfile.read_text(errors="replace"):
                return
            if not self.alive(f"ray-{node}"):
                raise TradeoffError(f"Ray node {node} exited; see {logfile}")
            time.sleep(0.5)
        raise TradeoffError(f"Ray node {node} did not join {self.ray_address} within {START_S:.0f} s; see {logfile}")

    def start_worker(self) -> None:
        """The Prefect worker of the pool, started as a user starts it: ``tradeoff worker``."""
        env = {**self.client_env(), "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(self.folder / "prefect-worker"),
               "PREFECT_WORKER_QUERY_SECONDS": "2"}  # a run starts within 2 s of being due, not 10
        self._start("prefect-worker", [sys.executable, "-m", "flows.cli", "worker", "--pool", self.pool], env)

    # Stopping --------------------------------------------------------------------------------

    def _group(self, name: str) -> list[psutil.Process]:
        """The processes of ``name``'s group now (the leader may be gone while its children live)."""
        pgid = self.processes[name]["pgid"]
        members = []
        for process in psutil.process_iter():
            try:
                if os.getpgid(process.pid) == pgid:
                    members.append(process)
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        return members

    def alive(self, name: str) -> bool:
        if name not in self.processes:
            return False
        try:
            process = psutil.Process(self.processes[name]["pid"])
            return process.create_time() == self.processes[name]["created"] and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to ``name``'s process group and its descendants (a fault, or the end of ``down``)."""
        if name not in self.processes:
            return
        victims = self._group(name)
        for process in list(victims):
            try:
                victims += process.children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        for process in {p.pid: p for p in victims}.values():
            try:
                process.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        if sig == signal.SIGKILL:
            psutil.wait_procs(victims, timeout=STOP_S)
            try:
                psutil.Process(self.processes[name]["pid"]).wait(0)  # reap our own child
            except (psutil.NoSuchProcess, psutil.TimeoutExpired, ChildProcessError):
                pass

    def down(self) -> None:
        """Stop everything this stack started: SIGTERM to each group, SIGKILL to what outlives STOP_S."""
        order = self.services()
        names = [n for n in order if n in self.processes] + [n for n in self.processes if n not in order]
        for name in names:
            self.kill(name, signal.SIGTERM)
        deadline = time.monotonic() + STOP_S
        while time.monotonic() < deadline and any(self._group(n) for n in names):
            time.sleep(0.2)
        for name in names:
            self.kill(name, signal.SIGKILL)
        (self.folder / "stack.json").unlink(missing_ok=True)
        if "ray" in self.ports:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def save(self) -> None:
        state = {"environment": self.environment, "nodes": list(self.nodes), "auth": self.auth, "pool": self.pool,
                 "ports": self.ports, "secrets": self.secrets, "processes": self.processes}
        path = self.folder / "stack.json"
        path.write_text(json.dumps(state, indent=1))
        path.chmod(0o600)  # it holds the passwords
        (self.folder / "env.sh").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.client_env().items()))

    @classmethod
    def load(cls, folder: Path) -> Stack:
        path = Path(folder) / "stack.json"
        if not path.exists():
            raise TradeoffError(f"no stack in {folder} (no stack.json); start one with 'python3 -m flows.stack up --dir {folder}'")
        state = json.loads(path.read_text())
        return cls(Path(folder), state["environment"], tuple(state["nodes"]), state["auth"], state["pool"], state["ports"],
                   state["secrets"], state["processes"])

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m flows.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", required=True, type=Path, help="folder for the stack's data, logs and stack.json")
    parser.add_argument("--environment", default="local", help="the tradeoff-environment label of the Ray worker nodes")
    parser.add_argument("--no-auth", action="store_true", help="MLflow without basic auth")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        if args.action == "down":
            Stack.load(args.dir).down()
            print(f"stopped the stack in {args.dir}")
            return
        stack = Stack(args.dir, environment=args.environment, auth=not args.no_auth).up()
    except TradeoffError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"stack up in {stack.folder}: PostgreSQL 127.0.0.1:{stack.ports['postgres']}, MLflow {stack.mlflow_uri}, "
          f"Prefect {stack.prefect_api}, Ray {stack.ray_address} (nodes {', '.join(stack.nodes)}), worker of pool {stack.pool}")
    print(f"export these (or: source {stack.folder / 'env.sh'}):")
    print((stack.folder / "env.sh").read_text(), end="")
    print(f"stop it: python3 -m flows.stack down --dir {stack.folder}")


if __name__ == "__main__":
    main()
