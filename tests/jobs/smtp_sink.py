"""A real SMTP server (aiosmtpd) in its own process, for load tests: it appends the Message-ID and recipients of
every message it accepts to a file, one line each. In the test process an aiosmtpd thread competes with the
test for the GIL and caps delivery at a few messages a second; its own process does not.

    python -m tests.jobs.smtp_sink PORT OUTFILE
"""

from __future__ import annotations

import asyncio
import sys
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(
            bytes(envelope.original_content or envelope.content), policy=policy.default
        )
        self._file.write(f"{parsed['Message-ID']} {','.join(envelope.rcpt_tos)}\n")
        self._file.flush()
        return "250 Message accepted for delivery"


async def main(port: int, path: Path) -> None:
    controller = Controller(Recorder(path), hostname="127.0.0.1", port=port, server_hostname="localhost")
    controller.start()
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2])))
