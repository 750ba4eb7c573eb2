"""Every message a customer may read has its German translation (contract section 8).

For each domain package with templates (``app/<domain>/templates/``) and each one with a catalog
(``app/<domain>/locales/``), the messages are extracted from its templates and code exactly as ``make messages``
extracts them (``babel.cfg``), and the German catalog must hold every one: translated, not fuzzy, with the same
placeholders, and nothing obsolete or stale in it that could hide a missing one. A package with templates and no
German catalog fails. Whether German output still carries English is checked per email, page and report
(tests/english.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
LANGUAGES = ("de",)


def _packages() -> list[str]:
    with_templates = {path.parent.name for path in APP.glob("*/templates") if path.is_dir()}
    with_catalogs = {path.parent.name for path in APP.glob("*/locales") if path.is_dir()}
    return sorted(with_templates | with_catalogs)


def catalog_file(package: str, language: str) -> Path:
    return APP / package / "locales" / language / "LC_MESSAGES" / "messages.po"


def extracted(package: str) -> dict[str | tuple[str, ...], list[str]]:
    """Every message id of ``package`` (singular, or singular and plural), with where it is used."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")  # type: ignore[no-untyped-call]
    messages: dict[str | tuple[str, ...], list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        APP / package, method_map, options_map
    ):
        key = message if isinstance(message, str) else tuple(part for part in message if part is not None)
        if key:
            messages.setdefault(key, []).append(f"app/{package}/{filename}:{lineno}")
    return messages


def read_catalog(path: Path, language: str) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=language)


def test_the_packages_are_found() -> None:
    # The emails at least; the pages and the report join when they have templates or a catalog.
    assert "notifications" in _packages()
    assert extracted("notifications")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("package", _packages())
def test_every_message_is_translated(package: str, language: str) -> None:
    path = catalog_file(package, language)
    assert path.is_file(), f"app/{package} has templates but no {language} catalog: run `make messages`"
    catalog = read_catalog(path, language)
    wanted = extracted(package)
    assert wanted, f"app/{package} has a catalog but no messages to translate"
    problems = []
    for key, places in wanted.items():
        msgid = key if isinstance(key, str) else key[0]
        entry = catalog.get(msgid)
        where = places[0]
        if entry is None:
            problems.append(f"{where}: {msgid!r} is not in the catalog (run `make messages`)")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy:
            problems.append(f"{where}: {msgid!r} is fuzzy")
        if not all(strings):
            problems.append(f"{where}: {msgid!r} has no {language} translation")
        if isinstance(key, tuple) and not entry.pluralizable:
            problems.append(f"{where}: {msgid!r} needs its plural forms")
    assert problems == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("package", _packages())
def test_the_catalog_holds_nothing_stale(package: str, language: str) -> None:
    path = catalog_file(package, language)
    if not path.is_file():
        pytest.fail(f"app/{package} has no {language} catalog")
    catalog = read_catalog(path, language)
    wanted = {key if isinstance(key, str) else key[0] for key in extracted(package)}
    # Obsolete (#~) entries and entries no template uses any more: `make messages` drops both.
    assert list(catalog.obsolete) == []
    ids = [message.id if isinstance(message.id, str) else message.id[0] for message in catalog if message.id]
    assert sorted(msgid for msgid in ids if msgid not in wanted) == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("package", _packages())
def test_translations_keep_their_placeholders(package: str, language: str) -> None:
    path = catalog_file(package, language)
    if not path.is_file():
        pytest.fail(f"app/{package} has no {language} catalog")
    catalog = read_catalog(path, language)
    # Babel's own checks: the same %(name)s placeholders in every form, the right number of plural forms.
    errors = [f"{message.id!r}: {error}" for message, errors in catalog.check() for error in errors]
    assert errors == []
