"""The cockpit: the privacy team's console at /cockpit (contract section 9), pages over the public JSON API."""
