"""A real PostgreSQL server for the tests, started and stopped by them (Debian's `postgresql` package).

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the `postgres`
user the Debian package creates, from a data folder that user owns. It listens on 127.0.0.1 on a
free port with trust authentication, for the test session only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl live, or None when no server is installed."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return candidates[-1].parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(bindir: Path) -> Iterator[str]:
    """Yield the URL of a fresh server's `bench` database; the server and its data go away after."""
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    top = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    data, sockets = top / "data", top / "sockets"
    sockets.mkdir()
    if as_root:
        user = pwd.getpwnam("postgres")
        for path in (top, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {port} -k {sockets}"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(top / "server.log"), "-w", "start")
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "bench")
        yield f"postgresql://postgres@127.0.0.1:{port}/bench"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=120,
            )
        shutil.rmtree(top, ignore_errors=True)
