"""A manual source in SOURCES_FILE: its fields validated with the file, line and field named; nothing of it is
read or erased automatically."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sources import DataSources, SourcesFileError
from app.sources.config import in_language

from ..conftest import SECRET
from ..factories import write_crm


def load(tmp_path: Path, manual: str) -> DataSources:
    return DataSources.from_file(write_crm(tmp_path / "crm", extra_sources=manual), secret_key=SECRET)


def error_of(tmp_path: Path, manual: str) -> str:
    with pytest.raises(SourcesFileError) as caught:
        load(tmp_path, manual)
    return str(caught.value).split(": ", 1)[1] if ": " in str(caught.value) else str(caught.value)


async def test_a_manual_source_is_a_task_not_an_automatic_source(tmp_path: Path) -> None:
    sources = load(
        tmp_path,
        "  - name: paper_archive\n    type: manual\n    owner_email: ' Archive@Brand.test '\n"
        "    instructions: {en: Shred the folder, de: Die Akte vernichten}\n",
    )
    try:
        [archive] = sources.manual
        assert archive.owner_email == "archive@brand.test"
        assert archive.language == "en"
        assert in_language(archive.instructions, "de") == "Die Akte vernichten"
        assert [s.name for s in sources.sources] == ["crm"]
        assert {d["source"] for d in sources.describe()} == {"crm"}
    finally:
        await sources.aclose()


@pytest.mark.parametrize(
    ("manual", "message"),
    [
        (
            "  - name: archive\n    type: manual\n    instructions: Shred it\n",
            "sources[1].owner_email: field required",
        ),
        (
            "  - name: archive\n    type: manual\n    owner_email: archive@brand.test\n",
            "sources[1].instructions: field required",
        ),
        (
            "  - name: archive\n    type: manual\n    owner_email: not an address\n    instructions: Shred it\n",
            "sources[1].owner_email: must be an email address",
        ),
        (
            "  - name: archive\n    type: manual\n    owner_email: a@b.test\n    instructions: {en: Shred it}\n",
            "sources[1].instructions: needs a text in every language (en and de): de is missing",
        ),
        (
            "  - name: archive\n    type: manual\n    owner_email: a@b.test\n    instructions: x\n    language: fr\n",
            "sources[1].language: unknown language 'fr' (use en or de)",
        ),
        (
            "  - name: archive\n    type: manual\n    owner_email: a@b.test\n    instructions: x\n    url: http://x\n",
            "sources[1].url: unknown field",
        ),
        (
            "  - name: archive\n    type: paper\n",
            "sources[1].type: unknown source type 'paper' (use sql, http or manual)",
        ),
    ],
)
def test_a_broken_manual_source_is_named(tmp_path: Path, manual: str, message: str) -> None:
    assert error_of(tmp_path, manual) == message
