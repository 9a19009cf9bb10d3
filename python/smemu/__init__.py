"""smemu: a SageMaker-compatible emulator you run locally.

``smemu.Server`` starts the bundled ``smemu`` binary on free loopback ports with a temporary data
directory and removes its containers when it stops; the pytest plugin (``smemu.pytest_plugin``,
loaded through the ``pytest11`` entry point) wraps it in the fixtures ``smemu`` and ``smemu_server``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from smemu._binary import find_binary
from smemu._server import Server, ServerError

try:
    __version__ = version("smemu")
except PackageNotFoundError:  # run from a source tree, not installed
    __version__ = "0+unknown"

__all__ = ["Server", "ServerError", "find_binary", "__version__"]
