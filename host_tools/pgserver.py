"""A throwaway PostgreSQL server for the tests and the clinic benchmark: a new cluster
(initdb) in a temporary folder, listening only on a Unix socket in that folder, removed
when it stops.

    with PgServer() as pg:                       # raises PgUnavailable(reason) if it cannot
        url = pg.create_database("clinic")       # postgresql://retrostep@/clinic?host=/tmp/...

It needs Debian's `postgresql` package (the server binaries under /usr/lib/postgresql/N/bin,
or initdb and postgres on the PATH). PostgreSQL refuses to run as root: as root the server
runs as the `postgres` user (or `nobody`). The server is this process's child and is told
to quit if this process dies (Linux's parent-death signal), so a killed test run leaves no
server behind.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

USER = "retrostep"          # the cluster's superuser (trust authentication on the socket)


class PgUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why."""


def server_bin(name: str) -> str | None:
    """A PostgreSQL server program: Debian's newest /usr/lib/postgresql/N/bin, else PATH."""
    def version(p):
        try:
            return int(Path(p).parent.parent.name)
        except ValueError:
            return 0
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    if found:
        return found[-1]
    return shutil.which(name)


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when this process is root, else None."""
    if os.geteuid() != 0:
        return None
    import pwd
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    raise PgUnavailable("running as root and there is no `postgres` or `nobody` user to run "
                        "the PostgreSQL server as (it refuses to run as root)")


def _death_signal():
    """A function for the server's child process (run between fork and exec): it asks Linux
    to send it SIGQUIT, an immediate stop, when this process dies. None elsewhere."""
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGQUIT)        # PR_SET_PDEATHSIG


class PgServer:
    def __init__(self, durable: bool = False, parent: str | None = None):
        """durable=False turns fsync off (tests: fast, and nothing to keep); the benchmark
        keeps PostgreSQL's defaults so that its figures are a real server's."""
        self.durable = durable
        self.parent = parent
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._as = None

    # ---- life ------------------------------------------------------------------------
    def start(self) -> "PgServer":
        initdb, postgres = server_bin("initdb"), server_bin("postgres")
        if not initdb or not postgres:
            raise PgUnavailable("the PostgreSQL server is not installed (Debian: apt-get install "
                                "postgresql)")
        self._as = _run_as()
        self.dir = Path(tempfile.mkdtemp(prefix="retrostep-pg-", dir=self.parent))
        self._postgres = postgres
        try:
            self.dir.chmod(0o755)        # clients of other users reach the socket
            data = self.dir / "data"
            if self._as:
                os.chown(self.dir, *self._as)
            r = self._run([initdb, "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8",
                           "--locale=C", "--no-sync", "--no-instructions"])
            if r.returncode != 0:
                raise PgUnavailable(f"initdb failed: {(r.stderr or r.stdout).strip()[-600:]}")
            conf = ["listen_addresses = ''", f"unix_socket_directories = '{self.dir}'",
                    "max_connections = 60", "shared_buffers = 64MB", "log_min_messages = warning",
                    "log_min_error_statement = panic"]
            if not self.durable:
                conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
            with open(data / "postgresql.conf", "a") as f:
                f.write("\n# retrostep's throwaway cluster\n" + "\n".join(conf) + "\n")
            self.start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self, argv) -> subprocess.CompletedProcess:
        kw = {}
        if self._as:
            kw = {"user": self._as[0], "group": self._as[1], "extra_groups": []}
        return subprocess.run(argv, capture_output=True, text=True, cwd=self.dir, timeout=120, **kw)

    def start_server(self, timeout: float = 30.0):
        assert self.dir is not None
        kw = {}
        if self._as:
            kw = {"user": self._as[0], "group": self._as[1], "extra_groups": []}
        log = open(self.dir / "server.log", "ab")
        try:
            self.proc = subprocess.Popen([self._postgres, "-D", str(self.dir / "data")],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         cwd=self.dir, preexec_fn=_death_signal(), **kw)
        finally:
            log.close()
        end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise PgUnavailable("the PostgreSQL server stopped at its start: "
                                    + self.log_tail())
            if self._ready():
                return
            if time.monotonic() > end:
                raise PgUnavailable(f"the PostgreSQL server did not start in {timeout:.0f} s: "
                                    f"{self.log_tail()}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        import psycopg
        try:
            psycopg.connect(self.url("postgres"), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def log_tail(self, n: int = 600) -> str:
        if self.dir is None:
            return "(no log)"
        try:
            return (self.dir / "server.log").read_text(errors="replace").strip()[-n:]
        except OSError:
            return "(no log)"

    def stop_server(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)          # fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        """Stops the server and starts it again on the same cluster (its caches emptied)."""
        self.stop_server()
        self.start_server()

    def stop(self):
        self.stop_server()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()

    # ---- use ---------------------------------------------------------------------------
    def url(self, dbname: str, user: str = USER) -> str:
        assert self.dir is not None
        return f"postgresql://{quote(user)}@/{quote(dbname)}?host={quote(str(self.dir), safe='/')}"

    def admin(self, sql: str, params=None, dbname: str = "postgres"):
        """Runs one statement as the superuser (outside a transaction: CREATE DATABASE...)."""
        import psycopg
        with psycopg.connect(self.url(dbname), autocommit=True) as con:
            cur = con.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        from psycopg import sql
        self.admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def data_dir(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"
