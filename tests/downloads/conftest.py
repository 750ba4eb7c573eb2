"""The same world as the processing tests: CRM + support desk (SQLite) + the real HTTP loyalty source."""

from ..processing.conftest import remote, settings, sources_file, world

__all__ = ["remote", "settings", "sources_file", "world"]
