"""Runs every C unit-test binary of the build (tests/unit/test_*.c) as one pytest case each.

Each binary prints "N passed, N failed" and exits non-zero on any failure; its output is shown
when it fails."""
import os
import subprocess
import pathlib

import pytest

UNIT_DIR = pathlib.Path(os.environ.get("SLUICE_UNIT_DIR", pathlib.Path(__file__).resolve().parents[2] / "build" / "tests" / "unit"))
SOURCES = sorted(p.stem for p in pathlib.Path(__file__).parent.glob("test_*.c"))


@pytest.mark.parametrize("name", SOURCES)
def test_c_unit(name):
    binary = UNIT_DIR / name
    assert binary.exists(), f"{binary} was not built (is it registered in tests/unit/meson.build?)"
    proc = subprocess.run([str(binary)], cwd=UNIT_DIR, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert " passed, 0 failed" in proc.stdout, proc.stdout
