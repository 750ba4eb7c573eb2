"""``python -m app operators create|list|remove`` as an administrator runs it, on the test database.

One run goes through a real process; the others call the same entry point in this process (a process start
costs seconds on a busy machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.__main__ import main

from ..test_cli import run


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_operators_are_created_listed_and_removed(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    created = run(
        [
            "operators",
            "create",
            "--email",
            "Grace.Hopper@Brand.test",
            "--name",
            "Grace Hopper",
            "--role",
            "admin",
        ],
        tmp_path,
        DATABASE_URL=database_url,
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().splitlines()[-1] == "grace.hopper@brand.test"

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", "cli-test-secret-0123456789")
    code, out, _ = cli(
        ["operators", "create", "--email", "alan@brand.test", "--name", "Alan Turing", "--role", "operator"],
        capsys,
    )
    assert code == 0
    assert out.splitlines()[-1] == "alan@brand.test"

    code, _, err = cli(
        ["operators", "create", "--email", "GRACE.HOPPER@brand.test", "--name", "G", "--role", "operator"],
        capsys,
    )
    assert code == 1
    assert "An operator with the email grace.hopper@brand.test exists already." in err

    code, out, _ = cli(["operators", "list"], capsys)
    listing = out.splitlines()
    assert len(listing) == 2
    grace = next(line for line in listing if line.startswith("grace.hopper@brand.test"))
    assert "admin" in grace
    assert "active" in grace
    assert grace.endswith("Grace Hopper")

    code, out, err = cli(["operators", "remove", "--email", "ALAN@brand.test"], capsys)
    assert code == 0, err
    assert "removed Alan Turing <alan@brand.test>; 0 session(s) ended" in out
    _, out, _ = cli(["operators", "list"], capsys)
    alan = next(line for line in out.splitlines() if "alan" in line)
    assert "removed " in alan

    code, _, err = cli(["operators", "remove", "--email", "nobody@brand.test"], capsys)
    assert code == 1
    assert "No operator has the email nobody@brand.test" in err
    with pytest.raises(SystemExit):
        cli(["operators", "create", "--email", "x@brand.test", "--name", "X", "--role", "root"], capsys)
    code, _, err = cli(
        ["operators", "create", "--email", "not-an-email", "--name", "X", "--role", "admin"], capsys
    )
    assert code == 1
    assert "not an email address" in err
