"""Prefect flows over gan_core: they wire stages into a pipeline and compute nothing themselves.

Embedded defaults, set before Prefect is imported: with no PREFECT_API_URL a flow starts Prefect's temporary
local server, whose database lives under the project's `.prefect/` (not ~/.prefect); no telemetry (offline).
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("PREFECT_HOME", str(PROJECT_ROOT / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
