"""A milvus-lite server on a free loopback port, for tests, benchmarks and trying the Milvus backend on one machine.

milvus-lite 3 (`pip install 'policy_nlp[milvus]'`) runs as ``milvus-lite server --data-dir DIR --host H
--port P``: a gRPC server that speaks the Milvus client protocol, so `MilvusIndexes` talks to it exactly
as to a Milvus cluster.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ...errors import ConfigError

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class LiteServer:
    uri: str
    pid: int


@contextmanager
def lite_server(data_dir: str | Path, *, port: int | None = None,
                timeout: float = START_TIMEOUT_S) -> Iterator[LiteServer]:  # fmt: skip
    """Run a milvus-lite server keeping its data in `data_dir`; yield its URI and process id; stop it on exit."""
    port = port or free_port()
    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir), "--host", HOST,
               "--port", str(port)]  # fmt: skip
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a chatty server never blocks on a full pipe
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_until_listening(process, port, timeout, log)
            yield LiteServer(f"http://{HOST}:{port}", process.pid)
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_listening(process: subprocess.Popen, port: int, timeout: float, log: IO[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            message = log.read().decode(errors="replace").strip().splitlines()
            raise ConfigError(f"milvus-lite did not start on port {port}: {message[-1] if message else 'no message'}")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise ConfigError(f"milvus-lite did not listen on port {port} within {timeout:.0f} s")
