"""The CLI as an operator uses it: migrate, api-keys create/list/revoke, demo."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli.demo_brand import DEMO_BRAND, with_demo_brand
from app.cli.startup import MALLOC_ARENAS, check_brand, check_public_base_url
from app.core.config import ConfigError, Settings

from .factories import write_crm
from .notifications.smtp_server import free_port

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], cwd: Path, *, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    # Settings under test come from ``env`` only, never from the shell that runs the tests.
    inherited = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PUBLIC_BASE_URL")}
    environment = {**inherited, "PYTHONPATH": str(ROOT), "SECRET_KEY": "cli-test-secret-0123456789", **env}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_migrate_then_keys_lifecycle(tmp_path: Path) -> None:
    assert run(["migrate"], tmp_path).returncode == 0
    created = run(["api-keys", "create", "--role", "operator", "--name", "cockpit"], tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("prk_")
    assert " " not in key
    listing = run(["api-keys", "list"], tmp_path)
    assert "cockpit" in listing.stdout
    assert "operator" in listing.stdout
    assert key not in listing.stdout
    key_id = listing.stdout.split()[0]
    revoked = run(["api-keys", "revoke", key_id], tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in run(["api-keys", "list"], tmp_path).stdout
    unknown = run(["api-keys", "revoke", "not-an-id"], tmp_path)
    assert unknown.returncode == 1
    bad_role = run(["api-keys", "create", "--role", "root", "--name", "x"], tmp_path)
    assert bad_role.returncode != 0


def test_demo_is_created_once(tmp_path: Path) -> None:
    first = run(["demo"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "var" / "demo" / "crm.db").exists()
    assert (tmp_path / "var" / "demo" / "sources.yaml").exists()
    second = run(["demo"], tmp_path)
    assert "already" in second.stdout


def assert_stopped_naming_public_base_url(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("configuration error: PUBLIC_BASE_URL: "), lines[0]


def test_a_worker_without_public_base_url_stops_at_start_naming_it(tmp_path: Path) -> None:
    # Everything else is valid: without the check this worker would run (and email links to :8000).
    sources = write_crm(tmp_path / "crm")
    done = run(["worker"], tmp_path, timeout=60, SOURCES_FILE=str(sources), MAIL_DIR=str(tmp_path / "mail"))
    assert_stopped_naming_public_base_url(done)
    assert "worker" in done.stderr


def test_serve_on_postgresql_without_public_base_url_stops_at_start_naming_it(tmp_path: Path) -> None:
    sources = write_crm(tmp_path / "crm")
    done = run(
        ["serve"],
        tmp_path,
        timeout=60,
        DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/privacy",
        SOURCES_FILE=str(sources),
        PORT=str(free_port()),
    )
    assert_stopped_naming_public_base_url(done)
    assert "DATABASE_URL" in done.stderr


@pytest.mark.parametrize(
    ("command", "database_url", "public_base_url", "refused"),
    [
        ("worker", "sqlite+aiosqlite:///./var/privacy.db", None, True),
        ("worker", "postgresql+asyncpg://db/privacy", None, True),
        ("worker", "postgresql+asyncpg://db/privacy", "https://privacy.brand.example", False),
        ("serve", "sqlite+aiosqlite:///./var/privacy.db", None, False),  # the embedded default: make run
        ("serve", "postgresql+asyncpg://db/privacy", None, True),
        ("serve", "postgresql+asyncpg://db/privacy", "https://privacy.brand.example", False),
    ],
)
def test_which_commands_need_public_base_url(
    command: str, database_url: str, public_base_url: str | None, refused: bool
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        public_base_url=public_base_url,
        secret_key="cli-test-secret-0123456789",
    )
    if refused:
        with pytest.raises(ConfigError, match="^configuration error: PUBLIC_BASE_URL: "):
            check_public_base_url(settings, command=command)
    else:
        check_public_base_url(settings, command=command)


@pytest.mark.parametrize(
    ("command", "database_url", "refused"),
    [
        ("worker", "sqlite+aiosqlite:///./var/privacy.db", True),
        ("worker", "postgresql+asyncpg://db/privacy", True),
        ("serve", "sqlite+aiosqlite:///./var/privacy.db", False),  # the embedded default: make run
        ("serve", "postgresql+asyncpg://db/privacy", True),
    ],
)
@pytest.mark.parametrize("missing", ["brand_name", "controller_address"])
def test_commands_that_write_to_customers_need_the_controller_named(
    command: str, database_url: str, refused: bool, missing: str
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        secret_key="cli-test-secret-0123456789",
        brand_name=None if missing == "brand_name" else "Lindenhof Shop",
        controller_address=None if missing == "controller_address" else "Lindenhof Shop GmbH, Berlin",
    )
    if refused:
        with pytest.raises(
            ConfigError, match=f"^configuration error: {missing.upper()}: required by `{command}`"
        ):
            check_brand(settings, command=command)
    else:
        check_brand(settings, command=command)


def test_serve_with_demo_brand_fills_only_what_the_environment_leaves_unset() -> None:
    settings = with_demo_brand(
        Settings(_env_file=None, brand_name="Mine", secret_key="cli-test-secret-0123456789")
    )
    assert settings.brand_name == "Mine"
    assert settings.brand.controller_address == DEMO_BRAND["controller_address"]
    assert settings.brand.authority_name == "Berliner Beauftragte für Datenschutz und Informationsfreiheit"
    assert settings.brand.authority_url == "https://www.datenschutz-berlin.de"


_SETTLED_HEAP = """
import gc, weakref
from app.cli.startup import settle_heap
import app.main  # what `serve` has loaded when it settles

settle_heap()
print("frozen", gc.get_freeze_count())

class Node:
    pass

# A cycle made after start-up, then dropped: only the collector can free it, and it must, unprompted.
node = Node()
node.self = node
gone = weakref.ref(node)
del node
# Objects kept alive for a while, as requests in flight hold theirs: their allocations trigger collections.
held = [[] for _ in range(50_000)]
print("collected", gone() is None)
"""


def test_a_settled_heap_keeps_start_up_out_of_collections_and_still_frees_garbage() -> None:
    """`serve` and `worker` settle the heap once started (app.cli.startup.settle_heap): what start-up built is
    no longer scanned by each collection, yet a cycle dropped while serving is freed without anyone asking.
    Run in a process of its own: frozen objects stay for the life of the process."""
    done = subprocess.run(
        [sys.executable, "-c", _SETTLED_HEAP],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    # The app's modules, mappers and schemas: tens of thousands of objects, out of every collection's way.
    assert int(lines["frozen"]) > 50_000, lines
    assert lines["collected"] == "True", lines


_ARENAS = """
import ctypes, sys, threading
from app.cli.startup import cap_malloc_arenas

capped = cap_malloc_arenas() if sys.argv[1] == "cap" else False
# Eight threads alive at once, each allocating blocks that Python takes from malloc (over 512 bytes), as a
# package's or a source's blocking steps do on theirs.
start = threading.Barrier(8)
held = []

def work(n):
    start.wait()
    held.append([bytes([n]) * 4000 for _ in range(200)])
    start.wait()

threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
out = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, out)
libc.fclose(out)
print("capped", capped)
print("arenas", open(sys.argv[2]).read().count("<heap nr="))
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc arenas are glibc's (the image and CI are Linux with glibc)",
)
def test_once_arenas_are_capped_all_threads_share_two_and_an_operators_limit_wins(tmp_path: Path) -> None:
    """What `serve` and `worker` call first thing (app.cli.startup.cap_malloc_arenas): threads allocating at once
    then share MALLOC_ARENAS arenas instead of one each, whose half-empty pages held some 7 MiB of `serve`'s peak
    memory. The same run without the cap shows the count it prevents; an arena limit the operator set
    (MALLOC_ARENA_MAX, GLIBC_TUNABLES) is left as it is."""

    def arenas(mode: str, **env: str) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
        done = subprocess.run(
            [sys.executable, "-c", _ARENAS, mode, str(tmp_path / f"{mode}.xml")],
            cwd=ROOT,
            env={**inherited, "PYTHONPATH": str(ROOT), **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return dict(line.split(" ", 1) for line in done.stdout.splitlines())

    uncapped = arenas("none")
    assert int(uncapped["arenas"]) > MALLOC_ARENAS + 2, uncapped  # the main arena and one per thread
    capped = arenas("cap")
    assert capped == {"capped": "True", "arenas": str(MALLOC_ARENAS)}, capped
    operators = arenas("cap", MALLOC_ARENA_MAX="4")
    assert operators["capped"] == "False", operators
    assert int(operators["arenas"]) == 4, operators
    tuned = arenas("cap", GLIBC_TUNABLES="glibc.malloc.arena_max=3")
    assert tuned == {"capped": "False", "arenas": "3"}, tuned


@pytest.mark.parametrize(
    ("flags", "api_first"), [([], True), (["--no-worker"], False)], ids=["worker", "no-worker"]
)
def test_serve_with_its_worker_runs_on_the_loop_that_answers_the_api_first(
    tmp_path: Path, flags: list[str], api_first: bool
) -> None:
    # `make run`'s steps, in a fresh directory: migrate, demo, then serve until it listens.
    assert run(["migrate"], tmp_path).returncode == 0
    assert run(["demo"], tmp_path).returncode == 0
    log = tmp_path / "serve.log"
    inherited = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PUBLIC_BASE_URL")}
    with log.open("w") as output:
        serving = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", *flags],
            cwd=tmp_path,
            env={
                **inherited,
                "PYTHONPATH": str(ROOT),
                "SECRET_KEY": "cli-test-secret-0123456789",
                "PORT": str(free_port()),
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(600):
                if "Uvicorn running" in log.read_text() or serving.poll() is not None:
                    break
                time.sleep(0.05)
        finally:
            serving.terminate()
            serving.wait(30)
    lines = log.read_text()
    assert "Uvicorn running" in lines, lines
    assert (
        "API first: the embedded worker's steps wait while a request is being answered" in lines
    ) is api_first
