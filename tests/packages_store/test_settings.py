"""PACKAGE_STORE, S3_ENDPOINT_URL and S3_REGION: what they accept, and one line naming the variable otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _no_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    for name in ("PACKAGE_STORE", "S3_ENDPOINT_URL", "S3_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("value", "store", "bucket"),
    [
        ("file:", "file:", None),
        ("", "file:", None),
        ("s3://privacy-packages", "s3://privacy-packages", ("privacy-packages", "")),
        ("s3://privacy-packages/", "s3://privacy-packages", ("privacy-packages", "")),
        ("s3://privacy.packages/eu/prod/", "s3://privacy.packages/eu/prod", ("privacy.packages", "eu/prod/")),
    ],
)
def test_package_store_values(
    monkeypatch: pytest.MonkeyPatch, value: str, store: str, bucket: object
) -> None:
    monkeypatch.setenv("PACKAGE_STORE", value)
    settings = load_settings()
    assert settings.package_store == store
    assert settings.package_bucket == bucket


def test_the_default_is_the_package_directory() -> None:
    settings = load_settings()
    assert settings.package_store == "file:"
    assert settings.package_bucket is None
    assert (settings.s3_endpoint_url, settings.s3_region) == (None, None)


def test_an_s3_compatible_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_ENDPOINT_URL", "http://minio.internal:9000/")
    monkeypatch.setenv("S3_REGION", "eu-central-1")
    settings = load_settings()
    assert (settings.s3_endpoint_url, settings.s3_region) == ("http://minio.internal:9000", "eu-central-1")


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PACKAGE_STORE", "/var/packages", "must be file: (the PACKAGE_DIR volume) or s3://bucket/prefix"),
        ("PACKAGE_STORE", "gs://bucket/prefix", "must be file:"),
        ("PACKAGE_STORE", "s3://", "is not an S3 bucket name"),
        ("PACKAGE_STORE", "s3://Privacy_Packages/x", "'Privacy_Packages' is not an S3 bucket name"),
        ("PACKAGE_STORE", "s3://ab", "is not an S3 bucket name"),
        ("PACKAGE_STORE", "s3://bucket/a b", "'a b' is not a key prefix"),
        ("PACKAGE_STORE", "s3://bucket/../other", "is not a key prefix"),
        ("PACKAGE_STORE", "s3://bucket/x?versionId=1", "is not a key prefix"),
        ("S3_ENDPOINT_URL", "minio.internal:9000", "must start with https://"),
        ("S3_REGION", "eu central", "is not a region name"),
    ],
)
def test_bad_values_stop_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith(f"configuration error: {variable}: ")
    assert says in message
    assert "\n" not in message
