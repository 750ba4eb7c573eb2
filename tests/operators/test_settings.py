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
