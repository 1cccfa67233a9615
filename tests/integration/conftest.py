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
def make_backend():
    """make_backend(kind, uds=None) -> a fresh backend process of its own, stopped at teardown."""
    started = []

    def make(kind, uds=None):
        b = Backend(kind, uds=uds)
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


@pytest.fixture
def start_sluice(tmp_path):
    """start_sluice(policy, upstream=...) -> Sluice; stopped at teardown, where the test also
    fails (with sluice's stderr) if sluice died during the test, did not exit 0 on SIGTERM, or
    left a sanitizer report."""
    started = []

    def start(policy, upstream="127.0.0.1:1", env=None):
        s = Sluice(policy, upstream=upstream, tmpdir=tmp_path / f"sluice{len(started)}", env=env)
        started.append(s)
        return s

    yield start
    problems = []
    for s in started:
        was_running = s.proc.poll() is None
        if not was_running and not s.stopped_by_harness and s.proc.returncode != 0:
            problems.append(f"sluice (pid {s.pid}) exited early with {s.proc.returncode}; stderr:\n{s.stderr_text()}")
        code = s.stop()
        if was_running and code != 0:
            problems.append(f"sluice (pid {s.pid}) exited with {code} on SIGTERM (expected 0); stderr:\n{s.stderr_text()}")
        try:
            s.assert_sanitizers_clean()
        except AssertionError as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
