"""Settings shared by the examples, from the command line and the environment.

- server address: the first argument, else ``TASKCONTROL_ADDRESS``, else 127.0.0.1:50051
- ``TASKCONTROL_OWNER``: the user the task belongs to (default ``demo``)
- ``TASKCONTROL_TOKEN``: bearer token, if the server has an auth file
- ``TASKCONTROL_EXAMPLE_DELAY``: seconds between steps (default: the page's pace)

Importing it also puts the SDK of this checkout on ``sys.path``, so the examples run
without installing anything but the Debian packages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OWNER: str = os.environ.get("TASKCONTROL_OWNER", "demo")
TOKEN: Optional[str] = os.environ.get("TASKCONTROL_TOKEN") or None


def address(argv: list[str]) -> str:
    """The server address: ``argv[1]``, else ``TASKCONTROL_ADDRESS``, else the default."""
    if len(argv) > 1:
        return argv[1]
    return os.environ.get("TASKCONTROL_ADDRESS", "127.0.0.1:50051")


def delay(default: float) -> float:
    """Seconds between steps: ``TASKCONTROL_EXAMPLE_DELAY``, else ``default``."""
    return float(os.environ.get("TASKCONTROL_EXAMPLE_DELAY", default))
