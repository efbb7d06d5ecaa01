"""Run a Milvus Lite server as a child process, bound to the loopback interface.

A Milvus Lite data directory can be opened by one process only, so StreetShop
runs ONE Milvus Lite server (``milvus-lite server``) that web and workers all
talk to over gRPC, exactly as they would talk to Milvus standalone through
MILVUS_URI.

    from engine.milvus_server import MilvusLiteServer

    with MilvusLiteServer("var/milvus") as server:
        index = CatalogIndex(server.uri, ...)

The ``milvus-lite`` command binds 0.0.0.0 by default; this launcher always
passes a host, 127.0.0.1 unless told otherwise, and refuses a non-loopback
host unless ``allow_remote=True``, so the vector store is never exposed to
the network by accident. The server's stdout/stderr go to a log file whose
tail is quoted in the error when the server dies or does not come up.
"""
from __future__ import annotations

import atexit
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_START_TIMEOUT_S = 60.0
DEFAULT_STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 30


class MilvusServerError(RuntimeError):
    """The Milvus Lite server could not be started (the message quotes its log)."""


class MilvusLiteServer:
    """One ``milvus-lite server`` child process serving ``data_dir`` on ``host:port``."""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        *,
        log_path: str | os.PathLike | None = None,
        allow_remote: bool = False,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
        max_workers: int | None = None,
    ) -> None:
        _check_host(host, allow_remote)
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = port
        self.log_path = Path(log_path) if log_path else _default_log_path(self.data_dir)
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.max_workers = max_workers
        self._process: subprocess.Popen | None = None
        self._log_offset = 0

    @property
    def uri(self) -> str:
        """The address pymilvus connects to, e.g. ``http://127.0.0.1:19530``."""
        if self.port is None:
            raise MilvusServerError("the Milvus Lite server has no port yet: call start() first")
        return f"http://{_uri_host(self.host)}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> "MilvusLiteServer":
        """Start the server and return once a client can list collections.

        Raises MilvusServerError, quoting the tail of the server log, when the
        process exits early or does not answer within ``start_timeout_s``.
        """
        if self.is_running():
            return self
        if self.port is None:
            self.port = free_port(self.host)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = _file_size(self.log_path)
        self._process = _spawn(self.command(), self.log_path)
        # A forgotten server would keep the data directory locked after we exit.
        atexit.register(self.stop)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after ``stop_timeout_s``)."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None or process.poll() is not None:
            return
        # milvus-lite closes its data directory cleanly on KeyboardInterrupt.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=self.stop_timeout_s / 2)
            return
        except subprocess.TimeoutExpired:
            process.terminate()
        try:
            process.wait(timeout=self.stop_timeout_s / 2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def command(self) -> list[str]:
        """The command line that runs the server (always with an explicit host)."""
        cmd = [
            str(milvus_lite_executable()), "server",
            "--data-dir", str(self.data_dir),
            "--host", self.host,
            "--port", str(self.port),
        ]
        if self.max_workers:
            cmd += ["--max-workers", str(self.max_workers)]
        return cmd

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines the server wrote to its log since the latest start()."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(the server wrote nothing)"

    def __enter__(self) -> "MilvusLiteServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"MilvusLiteServer({str(self.data_dir)!r}, {self.host}:{self.port}, {state})"

    # -------------------------------------------------------------------- helpers

    def _wait_until_ready(self) -> None:
        """Poll until the server answers list_collections, dies, or times out."""
        deadline = time.monotonic() + self.start_timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise MilvusServerError(
                    f"the Milvus Lite server exited with code {self._process.returncode} "
                    f"while starting ({' '.join(self.command())}).\n"
                    f"Last lines of {self.log_path}:\n{self.log_tail()}"
                )
            if _port_open(self.host, self.port):
                try:
                    _probe(self.uri)
                    return
                except Exception as exc:  # not ready yet: keep polling
                    last_error = exc
            time.sleep(0.2)
        raise MilvusServerError(
            f"the Milvus Lite server did not answer on {self.uri} within "
            f"{self.start_timeout_s:.0f} s (last error: {last_error}).\n"
            f"Last lines of {self.log_path}:\n{self.log_tail()}"
        )


def serve_forever(data_dir: str | os.PathLike, port: int, host: str = DEFAULT_HOST) -> None:
    """Run the server in the foreground until Ctrl-C or SIGTERM (for a launcher script)."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    with MilvusLiteServer(data_dir, host=host, port=port) as server:
        print(f"Milvus Lite serving {server.data_dir} on {server.uri} (log: {server.log_path})")
        try:
            while server.is_running():
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass


def milvus_lite_executable() -> Path:
    """The ``milvus-lite`` script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "milvus-lite"
    if not candidate.exists():
        raise MilvusServerError(
            f"{candidate} not found: install milvus-lite into this environment "
            f"(pip install milvus-lite) to run the embedded vector store"
        )
    return candidate


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_addresses(port: int) -> list[str]:
    """Local addresses with a socket LISTENing on ``port`` (from /proc/net/tcp{,6}; Linux only).

    Lets a test or a health check prove the server is not reachable from the network.
    """
    found = []
    for table, decode in (("/proc/net/tcp", _decode_ipv4), ("/proc/net/tcp6", _decode_ipv6)):
        found += [decode(addr) for addr in _listening_hex_addrs(table, port)]
    return found


def _check_host(host: str, allow_remote: bool) -> None:
    if not is_loopback(host) and not allow_remote:
        raise ValueError(
            f"refusing to bind the Milvus Lite server to {host!r}: it has no authentication. "
            f"Use 127.0.0.1, or pass allow_remote=True if it really must be reachable from the network"
        )


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _default_log_path(data_dir: Path) -> Path:
    return data_dir.parent / f"{data_dir.name}.milvus-lite.log"


def _spawn(cmd: Sequence[str], log_path: Path) -> subprocess.Popen:
    """Start the server in its own process group with output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _probe(uri: str) -> None:
    """One real RPC round trip through pymilvus.

    Not ``list_collections``: milvus-lite 3.2.2 answers ShowCollections with a
    field (``shards_num``) that pymilvus 2.5's protobufs lack, so that call
    fails on a healthy server. ``has_collection`` exercises the same path
    (connect, then a collection RPC) and works.
    """
    from pymilvus import MilvusClient  # imported late: the launcher alone needs no client

    # A private connection alias: closing it must not close a caller's shared connection.
    client = MilvusClient(uri=uri, timeout=5, alias=f"streetshop-probe-{uuid.uuid4().hex}")
    try:
        client.has_collection(_PROBE_COLLECTION, timeout=5)
    finally:
        client.close()


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


_TCP_LISTEN = "0A"
_PROBE_COLLECTION = "streetshop_readiness_probe"


def _listening_hex_addrs(table: str, port: int) -> list[str]:
    try:
        lines = Path(table).read_text().splitlines()[1:]
    except OSError:
        return []
    addrs = []
    for line in lines:
        fields = line.split()
        local, state = fields[1], fields[3]
        addr, _, port_hex = local.rpartition(":")
        if state == _TCP_LISTEN and int(port_hex, 16) == port:
            addrs.append(addr)
    return addrs


def _decode_ipv4(hex_addr: str) -> str:
    return str(ipaddress.IPv4Address(bytes.fromhex(hex_addr)[::-1]))


def _decode_ipv6(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    # /proc stores IPv6 as four little-endian 32-bit words.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped or address)  # a dual-stack socket on 127.0.0.1 shows as ::ffff:127.0.0.1
