"""The demo's brand (contract section 8: `make run` sets demo values): a fictitious shop whose details make every
email, page and report look as they will for a real brand. Only settings the environment leaves unset are filled."""

from __future__ import annotations

from app.core.config import Settings

DEMO_BRAND: dict[str, str] = {
    "brand_name": "Lindenhof Shop",
    "brand_url": "https://shop.example",
    "privacy_policy_url": "https://shop.example/privacy",
    "controller_address": "Lindenhof Shop GmbH, Lindenweg 12, 10115 Berlin, Germany",
    "dpo_email": "dpo@shop.example",
    "supervisory_authority": (
        "Berliner Beauftragte für Datenschutz und Informationsfreiheit, https://www.datenschutz-berlin.de"
    ),
}


def with_demo_brand(settings: Settings) -> Settings:
    """``settings`` with each unset brand field taken from the demo; anything set (environment, .env) stays."""
    missing = {name: value for name, value in DEMO_BRAND.items() if getattr(settings, name) is None}
    if not missing:
        return settings
    # Validated like any other value: model_validate runs the same checks as start-up.
    return Settings.model_validate({**settings.model_dump(), **missing})
