import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Backend, Sluice  # noqa: E402


@pytest.fixture(scope="session")
def tornado_backend():
    b = Backend("tornado")
    yield b
    b.stop()


@pytest.fixture(scope="session")
def fastapi_backend():
    b = Backend("fastapi")
    yield b
    b.stop()


@pytest.fixture(params=["tornado", "fastapi"])
def backend(request):
    """Each test that takes `backend` runs against both real backends, stats reset."""
    b = request.getfixturevalue(f"{request.param}_backend")
    b.reset()
    return b


@pytest.fixture
def start_sluice(tmp_path):
    """start_sluice(policy, upstream=...) -> Sluice; stopped (and checked for sanitizer
    reports) at teardown."""
    started = []

    def start(policy, upstream="127.0.0.1:1", env=None):
        s = Sluice(policy, upstream=upstream, tmpdir=tmp_path / f"sluice{len(started)}", env=env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
        s.assert_sanitizers_clean()
