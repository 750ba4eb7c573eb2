"""Operators sign in to the cockpit (contract section 9): a one-time link by email, or OIDC; and sign out."""
