"""The same world as the processing tests: CRM + support desk (SQLite) + the real HTTP loyalty source."""

from ..processing.conftest import loyalty_timeout, remote, settings_overrides, sources_file, world

__all__ = ["loyalty_timeout", "remote", "settings_overrides", "sources_file", "world"]
