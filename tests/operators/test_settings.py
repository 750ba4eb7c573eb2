"""The operators' settings: a bad value stops start-up with one line naming the variable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.core.config import ConfigError, load_settings


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SESSION_TTL": "8 hours"}, "configuration error: SESSION_TTL: "),
        ({"SESSION_TTL": "PT0S"}, "configuration error: SESSION_TTL: "),
        ({"SIGN_IN_LINK_TTL": "soon"}, "configuration error: SIGN_IN_LINK_TTL: "),
        ({"OIDC_ISSUER": "idp.example.com", "OIDC_CLIENT_ID": "c"}, "configuration error: OIDC_ISSUER: "),
        ({"OIDC_ISSUER": "https://idp.example.com"}, "OIDC_ISSUER needs OIDC_CLIENT_ID"),
        # Keys fetched over plain http across a network could be swapped on the way: http is for loopback only.
        (
            {"OIDC_ISSUER": "http://idp.example.com", "OIDC_CLIENT_ID": "c"},
            "configuration error: OIDC_ISSUER: must start with https:// (or http://localhost",
        ),
        (
            {"CUSTOMER_TOKEN_JWKS_URL": "http://10.0.0.7/jwks.json"},
            "configuration error: CUSTOMER_TOKEN_JWKS_URL: must start with https://",
        ),
        ({"CORS_ORIGINS": "https://a.example/path"}, "configuration error: CORS_ORIGINS: "),
        ({"CORS_ORIGINS": "a.example"}, "configuration error: CORS_ORIGINS: "),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "issuer",
    ["https://idp.example.com/realms/brand/", "http://127.0.0.1:8080", "http://localhost:8080/realm"],
)
def test_an_issuer_over_https_or_on_this_machine_is_taken(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, issuer: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OIDC_ISSUER", issuer)
    monkeypatch.setenv("OIDC_CLIENT_ID", "cockpit")
    assert load_settings().oidc_issuer == issuer


def test_defaults_and_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.session_ttl == timedelta(hours=8)
    assert settings.sign_in_link_ttl == timedelta(minutes=15)
    assert settings.cors_origins == []
    assert settings.oidc_issuer is None
    monkeypatch.setenv("CORS_ORIGINS", "https://cockpit.example.com, http://localhost:5173/")
    monkeypatch.setenv("OIDC_ISSUER", "https://idp.example.com/realms/x/")
    monkeypatch.setenv("OIDC_CLIENT_ID", "privacy")
    settings = load_settings()
    assert settings.cors_origins == ["https://cockpit.example.com", "http://localhost:5173"]
    assert settings.oidc_issuer == "https://idp.example.com/realms/x/"  # as the tokens' `iss` spells it
    assert settings.oidc_role_claim == "role"
