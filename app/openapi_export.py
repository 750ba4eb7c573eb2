"""Print the OpenAPI document the app serves (``make openapi`` writes it to openapi/openapi.json)."""

import json
import sys

from app.core.config import Settings
from app.main import create_app


def document() -> str:
    app = create_app(Settings(_env_file=None, database_url="sqlite+aiosqlite:///:memory:"), run_worker=False)
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document())
