"""Where the ``smemu`` binary is: given, named by ``SMEMU_BINARY``, bundled in this environment, or on PATH."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Optional, Union

_NAME = "smemu.exe" if sys.platform == "win32" else "smemu"


def find_binary(binary: Optional[Union[str, os.PathLike[str]]] = None) -> Path:
    """The smemu executable to run.

    In order: ``binary`` when given, ``$SMEMU_BINARY``, the one the wheel installed into this
    interpreter's scripts directory (the environment's ``bin/``, or the user scheme's after
    ``pip install --user``), then the first ``smemu`` on ``PATH``.
    """
    if binary is not None:
        return _checked(Path(binary), "the binary given")
    env = os.environ.get("SMEMU_BINARY")
    if env:
        return _checked(Path(env), "SMEMU_BINARY")
    schemes = [sysconfig.get_path("scripts")]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        schemes.append(sysconfig.get_path("scripts", scheme=user_scheme))
    for scripts in schemes:
        candidate = Path(scripts) / _NAME
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(_NAME)
    if found:
        return Path(found)
    raise FileNotFoundError(
        "no smemu binary: install the smemu wheel in this environment, put smemu on PATH, "
        "or set SMEMU_BINARY (pytest: --smemu-binary PATH)"
    )


def _checked(path: Path, what: str) -> Path:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"{what} ({path}) is not an executable file")
    return path
