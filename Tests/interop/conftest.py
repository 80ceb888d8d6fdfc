import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def till_bin():
    """The till executable built by `swift build` (scripts/test builds it first)."""
    path = pathlib.Path(os.environ.get("TILL_BIN", ROOT / ".build" / "debug" / "till"))
    assert path.exists(), f"{path} not found: run swift build first"
    return str(path)
