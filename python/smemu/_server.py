"""``Server``: one smemu process for the length of a ``with`` block."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union

from smemu._binary import find_binary

_READY = "smemu listening on "
# Services boto3 reaches on the API listener (everything but S3, which has a listener of its own).
_S3 = "s3"
# Credentials for a client when the environment has none: smemu (`--auth any`) checks no signature.
_DUMMY_KEY = "smemu"
_DUMMY_SECRET = "smemu"

FlagValue = Union[str, int, float, bool, os.PathLike, Sequence[Union[str, int, os.PathLike]], None]


class ServerError(RuntimeError):
    """smemu did not start, with the tail of its log."""


class Server:
    """Runs ``smemu serve`` on free loopback ports until the ``with`` block ends.

    ``data_dir``: where smemu keeps its state; a temporary directory (removed afterwards) when not
    given. ``ports``: ``(api_port, s3_port)``; free ports are picked when not given. ``flags``: more
    ``smemu serve`` flags, ``max_instances=4`` for ``--max-instances 4`` (``True`` for a switch, a
    list to repeat one). ``binary``: the smemu executable (default: the one this package installed,
    see :func:`smemu.find_binary`). ``keep``: leave the data directory and the containers in place
    (for ``smemu ps``/``smemu logs`` afterwards). ``region``: the region of :meth:`client`'s clients.

    On leaving (also when the block raised) smemu is stopped (SIGTERM, then SIGKILL after
    ``stop_timeout`` seconds) and, unless ``keep``, the containers of its data directory are removed
    (``smemu prune --data-dir``) and a temporary data directory is deleted.
    """

    def __init__(
        self,
        data_dir: Optional[Union[str, os.PathLike[str]]] = None,
        ports: Optional[Tuple[int, int]] = None,
        *,
        binary: Optional[Union[str, os.PathLike[str]]] = None,
        keep: bool = False,
        region: str = "us-east-1",
        start_timeout: float = 60.0,
        stop_timeout: float = 40.0,
        **flags: FlagValue,
    ) -> None:
        self.binary: Path = find_binary(binary)
        self._given_data_dir = Path(data_dir) if data_dir is not None else None
        self._ports = ports
        self._flags = flags
        self.keep = keep
        self.region = region
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._process: Optional[subprocess.Popen[str]] = None
        self._owned_dir: Optional[Path] = None
        self.data_dir: Optional[Path] = None
        self.log_path: Optional[Path] = None
        self.endpoint_url: str = ""
        self.s3_endpoint_url: str = ""

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def start(self) -> "Server":
        """Starts smemu and waits for its ready line; raises :class:`ServerError` if it exits first."""
        if self._process is not None:
            raise ServerError("this Server is already running")
        if self._given_data_dir is None:
            self._owned_dir = Path(tempfile.mkdtemp(prefix="smemu-"))
            self.data_dir = self._owned_dir / "data"
            self.log_path = self._owned_dir / "smemu.log"
        else:
            self.data_dir = self._given_data_dir.resolve()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd, log = tempfile.mkstemp(prefix="smemu-", suffix=".log")
            os.close(fd)
            self.log_path = Path(log)
        api_port, s3_port = self._ports or (0, 0)
        args = [
            str(self.binary),
            "serve",
            "--listen",
            f"127.0.0.1:{api_port}",
            "--s3-listen",
            f"127.0.0.1:{s3_port}",
            "--data-dir",
            str(self.data_dir),
            *_flag_args(self._flags),
        ]
        with open(self.log_path, "ab") as log:
            # stderr (smemu's log) to a file: a pipe nobody drains would stall smemu once full.
            self._process = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True
            )
        try:
            self._await_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _await_ready(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def pump() -> None:
            # Reads every stdout line for the process's life, so that its pipe never fills.
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, name="smemu-stdout", daemon=True).start()
        try:
            line = lines.get(timeout=self._start_timeout)
        except queue.Empty:
            raise ServerError(f"smemu printed no ready line within {self._start_timeout} s{self._log_tail()}") from None
        if line is None or not line.startswith(_READY):
            process.wait(timeout=5)
            raise ServerError(f"smemu exited with status {process.returncode} before it was ready{self._log_tail()}")
        api, _, s3 = line[len(_READY) :].strip().partition(" s3=")
        self.endpoint_url = api
        self.s3_endpoint_url = "" if s3 == "off" else s3

    def stop(self) -> None:
        """Stops smemu and cleans up (see the class). Safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.keep or self.data_dir is None:
            return
        # A container the engine was still creating as smemu stopped can appear after a first
        # removal: look again until a pass finds nothing.
        for _ in range(5):
            if "nothing to remove" in self.prune():
                break
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None
        elif self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def prune(self) -> str:
        """Removes the data directory's containers (``smemu prune --data-dir``); returns what it said."""
        if self.data_dir is None or not (self.data_dir / "owner-id").exists():
            return "nothing to remove"
        done = subprocess.run(
            [str(self.binary), "prune", "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise ServerError(f"smemu prune failed: {done.stderr.strip()}")
        return done.stdout

    # -- clients ---------------------------------------------------------------------------------

    def client(self, service_name: str, **kwargs: Any) -> Any:
        """A boto3 client of ``service_name`` for this smemu (S3 on the embedded S3), in
        :attr:`region`, with dummy credentials when the environment provides none."""
        import boto3  # imported here: `smemu` itself (the binary, Server) works without boto3

        if not self.endpoint_url:
            raise ServerError("smemu is not running (use Server as a context manager, or call start())")
        url = self.s3_endpoint_url if service_name == _S3 else self.endpoint_url
        if not url:
            raise ServerError("this smemu serves no embedded S3 (no_s3=True)")
        kwargs.setdefault("endpoint_url", url)
        kwargs.setdefault("region_name", self.region)
        if "aws_access_key_id" not in kwargs and boto3.Session().get_credentials() is None:
            kwargs["aws_access_key_id"] = _DUMMY_KEY
            kwargs["aws_secret_access_key"] = _DUMMY_SECRET
        return boto3.client(service_name, **kwargs)

    @property
    def environ(self) -> Dict[str, str]:
        """Environment variables that point AWS SDKs and the AWS CLI at this smemu."""
        env = {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": self.region}
        if self.s3_endpoint_url:
            env["AWS_ENDPOINT_URL_S3"] = self.s3_endpoint_url
        return env

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = Path(self.log_path).read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""
        # A refused start ends with "Error: ..." (and, with RUST_BACKTRACE set, a backtrace): show that.
        error = text.rfind("Error: ")
        if error >= 0:
            tail = text[error:].split("\nStack backtrace:")[0].strip()
        else:
            tail = "\n".join(text.splitlines()[-lines:])
        return f"; its log ({self.log_path}) ends:\n{tail}" if tail else ""

    def __repr__(self) -> str:
        return f"Server(endpoint_url={self.endpoint_url!r}, data_dir={str(self.data_dir)!r})"


def _flag_args(flags: Dict[str, FlagValue]) -> List[str]:
    """``max_instances=4`` → ``--max-instances 4``; ``True`` a bare switch; ``False``/``None`` nothing."""
    args: List[str] = []
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                args += [flag, os.fspath(item) if isinstance(item, os.PathLike) else str(item)]
        else:
            args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return args
