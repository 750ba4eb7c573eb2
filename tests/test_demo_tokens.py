"""The README's signed-in walk-through: `demo` writes a key pair, `customer-token` prints a token that the
embedded default accepts (and only there), and the token names the demo customer."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest

from app.auth.keys import Role, create_key
from app.core.config import DEFAULT_DATABASE_URL, Settings
from app.core.db import unit_of_work

from .conftest import bearer, client_of, running_app
from .test_cli import run


async def test_demo_token_is_accepted_by_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(["migrate"], tmp_path).returncode == 0
    demo = run(["demo"], tmp_path)
    assert demo.returncode == 0, demo.stderr
    private_key = tmp_path / "var" / "demo" / "customer_token_private.pem"
    assert stat.S_IMODE(private_key.stat().st_mode) == 0o600
    printed = run(["customer-token", "cus_0001"], tmp_path)
    assert printed.returncode == 0, printed.stderr
    token = printed.stdout.strip().splitlines()[-1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "cus_0001"
    assert 3500 <= claims["exp"] - claims["iat"] <= 3600

    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None, secret_key="demo-walkthrough-secret-0123", rate_limit_per_minute=0)
    assert settings.database_url == DEFAULT_DATABASE_URL
    async with running_app(settings) as application:
        async with unit_of_work(application.state.sessionmaker) as session:
            _key, app_key = await create_key(session, name="ios", role=Role.APP)
            _key, operator_key = await create_key(session, name="cockpit", role=Role.OPERATOR)
        async with client_of(application) as client:
            response = await client.post(
                "/v1/privacy-requests",
                json={"type": "access"},
                headers={**bearer(app_key), "X-Customer-Token": token},
            )
            assert response.status_code == 201, response.text
            view = await client.get(
                f"/v1/privacy-requests/{response.json()['id']}", headers=bearer(operator_key)
            )
            assert view.json()["customer"]["id"] == "cus_0001"
            assert view.json()["customer"]["name"] == "Ada Lovelace"


def test_the_demo_key_is_not_trusted_outside_the_embedded_default(tmp_path: Path) -> None:
    run(["demo"], tmp_path)
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/other.db",
        var_dir=tmp_path / "var",
    )
    assert (tmp_path / "var" / "demo" / "customer_token_public.pem").exists()
    assert settings.resolved_customer_token_key_file() is None


def test_customer_token_without_a_demo_says_what_to_do(tmp_path: Path) -> None:
    printed = run(["customer-token", "cus_0001"], tmp_path)
    assert printed.returncode == 1
    assert "python -m app demo" in printed.stderr
