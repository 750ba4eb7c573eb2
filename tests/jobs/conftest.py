"""The worker tests' loyalty system: no secret header, Ada's points."""

from __future__ import annotations

import pytest

from ..sources.http_source import HttpSourceServer


@pytest.fixture
def remote(remote: HttpSourceServer) -> HttpSourceServer:
    """tests/conftest.py's ``remote``, holding Ada's (cus_1) points."""
    remote.data["cus_1"] = {"points": [{"balance": 120}]}
    return remote
