"""The pytest plugin (entry point ``pytest11``): fixtures ``smemu`` and ``smemu_server``.

``smemu``: a :class:`smemu.Server` with a fresh data directory for each test.
``smemu_server``: one :class:`smemu.Server` for the whole session.
Options: ``--smemu-keep`` leaves data directories and containers in place (their paths are printed
at the end, for ``smemu ps --data-dir`` and ``smemu logs``); ``--smemu-binary PATH`` runs another
smemu executable than the one this package installed.
"""

from __future__ import annotations

from typing import Iterator, List

import pytest

from smemu._server import Server

_KEPT = pytest.StashKey[List[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smemu", "smemu (SageMaker emulator)")
    group.addoption(
        "--smemu-keep",
        action="store_true",
        default=False,
        help="leave smemu's data directories and containers in place after the tests (for smemu ps / smemu logs)",
    )
    group.addoption(
        "--smemu-binary",
        metavar="PATH",
        default=None,
        help="the smemu executable to run (default: the one the smemu package installed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEPT] = []


def _server(config: pytest.Config) -> Server:
    return Server(binary=config.getoption("--smemu-binary"), keep=config.getoption("--smemu-keep"))


def _run(config: pytest.Config) -> Iterator[Server]:
    with _server(config) as server:
        try:
            yield server
        finally:
            if server.keep:
                config.stash[_KEPT].append(str(server.data_dir))


@pytest.fixture(scope="session")
def smemu_server(pytestconfig: pytest.Config) -> Iterator[Server]:
    """One smemu for the whole test session."""
    yield from _run(pytestconfig)


@pytest.fixture
def smemu(pytestconfig: pytest.Config) -> Iterator[Server]:
    """A smemu with a fresh data directory for this test; its containers are removed afterwards."""
    yield from _run(pytestconfig)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    kept = config.stash.get(_KEPT, [])
    if kept:
        terminalreporter.section("smemu: kept data directories (--smemu-keep)")
        for path in kept:
            terminalreporter.write_line(f"{path}    smemu ps --data-dir {path}")
