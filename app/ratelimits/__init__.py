"""Rate limits shared by every replica: the windows counted in PostgreSQL (contract section 11).

``app.core.ratelimit`` applies the allowances and holds the in-memory counter used on SQLite.
"""
