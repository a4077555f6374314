"""A private, throwaway PostgreSQL cluster for tests that stop, restart or cut the server.

The shared test server (``WORKFLOWS_TEST_POSTGRES_URL``) must not be restarted under
other tests, so fault tests get a cluster of their own: ``initdb`` in a temporary
directory, ``pg_ctl`` on a free port of 127.0.0.1 with the unix socket in the same
directory, ``fsync=off``, one database. Starting one takes about a second.

The server binaries are taken from ``WORKFLOWS_PG_BINDIR`` if it is set (and only from
there), else looked up with ``pg_config --bindir``, in ``/usr/lib/postgresql/*/bin``
(newest first), then on ``PATH``. PostgreSQL
refuses to run as root: as root, the cluster runs as the ``postgres`` user (the
directory is handed to it).

Use it from a fixture (see ``tests/faults/conftest.py``)::

    cluster = PgCluster(find_bindir())
    cluster.create()
    try:
        ...  # cluster.dsn, await cluster.restart(), await cluster.terminate_backends()
    finally:
        cluster.destroy()
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BINDIR_ENV = "WORKFLOWS_PG_BINDIR"
REQUIRE_ENV = "WORKFLOWS_REQUIRE_POSTGRES"
SERVER_USER = "postgres"  # who runs the cluster when the tests run as root
HOW_TO_ENABLE = (
    "install the PostgreSQL server (e.g. apt-get install postgresql) or set "
    f"{BINDIR_ENV} to the directory holding initdb and pg_ctl to run these tests "
    f"({REQUIRE_ENV}=1 makes them mandatory)"
)


def _has_tools(path: Path) -> bool:
    return all(os.access(path / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres"))


def find_bindir() -> Path | None:
    """The directory of ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    if os.environ.get(BINDIR_ENV):
        chosen = Path(os.environ[BINDIR_ENV])
        return chosen if _has_tools(chosen) else None
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            candidates.append(Path(out))

    def version(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    candidates += [Path(path) for path in installed]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    return next((path for path in candidates if _has_tools(path)), None)


def cluster_problem() -> str | None:
    """Why a private cluster cannot be started here, or None if it can."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return "asyncpg is not installed (pip install 'durable-workflows[postgres]')"
    if find_bindir() is None:
        where = os.environ.get(BINDIR_ENV)
        return "the PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found" + (
            f" in {BINDIR_ENV}={where}" if where else ""
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ClusterError(RuntimeError):
    """A pg_ctl or initdb command failed; the message carries the server log's tail."""


class PgCluster:
    """One private PostgreSQL cluster: create, start, stop, restart, cut connections.

    Attributes:
        dsn: ``postgresql://postgres@127.0.0.1:<port>/<database>`` (trust auth); the same
            across restarts.
        admin_dsn: the same server's ``postgres`` database, for administration.
    """

    def __init__(self, bindir: Path, *, database: str = "wf") -> None:
        self.bindir = bindir
        self.database = database
        self.port = 0
        self.root: Path | None = None
        self._as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            self._as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            self._owner = (entry.pw_uid, entry.pw_gid)
        else:
            self._owner = (os.getuid(), os.getgid())

    # -- paths and URLs ---------------------------------------------------------------------
    @property
    def data(self) -> Path:
        assert self.root is not None, "create() the cluster first"
        return self.root / "data"

    @property
    def log(self) -> Path:
        assert self.root is not None, "create() the cluster first"
        return self.root / "server.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, schema: str) -> str:
        """A store URL on this cluster's database, in ``schema``."""
        return f"{self.dsn}?schema={schema}"

    # -- synchronous control (fixtures) -----------------------------------------------------
    def _run(self, *args: str, timeout: float = 60) -> str:
        try:
            done = subprocess.run(
                [str(self.bindir / args[0]), *args[1:]],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.root,
                env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
                **self._as_user,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{args[0]} timed out after {timeout} s{self._log_tail()}") from exc
        if done.returncode != 0:
            raise ClusterError(
                f"{' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}"
                f"{self._log_tail()}"
            )
        return done.stdout

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()[-15:]
        except (OSError, AssertionError):
            return ""
        return "\nserver log:\n" + "\n".join(lines) if lines else ""

    def create(self) -> None:
        """initdb a new cluster in a temporary directory, start it, create the database.
        On failure nothing is left behind."""
        self.root = Path(tempfile.mkdtemp(prefix="wf-pgcluster-"))
        try:
            self._create()
        except BaseException:
            self.destroy()
            raise

    def _create(self) -> None:
        assert self.root is not None
        os.chown(self.root, *self._owner)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        for attempt in range(3):
            self.port = _free_port()
            settings = {
                "listen_addresses": "'127.0.0.1'",
                "port": str(self.port),
                "unix_socket_directories": f"'{self.root}'",
                "fsync": "off",
                "full_page_writes": "off",
                "shared_buffers": "32MB",
                "max_connections": "200",
                "logging_collector": "off",
                "log_min_messages": "warning",
            }
            with (self.data / "postgresql.auto.conf").open("a") as conf:
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
            try:
                self.start_now()
                break
            except ClusterError:
                if attempt == 2 or "already in use" not in self._log_tail():
                    raise
        self._sql(f'CREATE DATABASE "{self.database}"')

    def _sql(self, statement: str) -> None:
        async def run() -> None:
            import asyncpg

            conn = await asyncpg.connect(self.admin_dsn, timeout=10)
            try:
                await conn.execute(statement)
            finally:
                await conn.close()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(run())
        else:  # called from async code: run it on a loop of its own
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, run()).result()

    def start_now(self) -> None:
        """Start the server and wait until it accepts connections (blocking)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")

    def stop_now(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: end sessions, checkpoint; ``immediate``: like a
        crash, recovery at the next start) and wait until it is down (blocking)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def is_running(self) -> bool:
        """Whether the server is up (``pg_ctl status``)."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "status", timeout=10)
        except ClusterError:
            return False
        return True

    def destroy(self) -> None:
        """Stop the server at once (if up) and delete the cluster's directory."""
        if self.root is None:
            return
        try:
            if self.data.exists() and self.is_running():
                self.stop_now("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # -- asynchronous control (tests; the event loop keeps running meanwhile) ---------------
    async def stop(self, mode: str = "fast") -> None:
        """Stop the server (see :meth:`stop_now`); returns once it is down."""
        await asyncio.to_thread(self.stop_now, mode)

    async def start(self) -> None:
        """Start the server; returns once it accepts connections."""
        await asyncio.to_thread(self.start_now)

    async def restart(self, down_for: float = 0.0, mode: str = "fast") -> float:
        """Stop the server, keep it down ``down_for`` seconds, start it again.

        Returns:
            How long the server was unreachable, in seconds.
        """
        began = time.monotonic()
        await self.stop(mode)
        if down_for:
            await asyncio.sleep(down_for)
        await self.start()
        return time.monotonic() - began

    async def terminate_backends(self) -> int:
        """``pg_terminate_backend`` every other client backend, from a fresh admin
        connection, and wait until they are gone.

        Returns:
            How many backends were terminated.
        """
        import asyncpg

        conn = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                    "FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            )
        finally:
            await conn.close()

    async def backends(self) -> int:
        """How many other client backends are connected."""
        import asyncpg

        conn = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            )
        finally:
            await conn.close()
