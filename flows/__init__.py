"""Prefect flows over gan_core: they wire stages into a pipeline and compute nothing themselves.

Embedded defaults, set before Prefect is imported: with no PREFECT_API_URL a flow starts Prefect's temporary
local server, whose database lives under the project's `.prefect/` (not ~/.prefect); no telemetry (offline).
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("PREFECT_HOME", str(PROJECT_ROOT / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# the temporary server's first start migrates a fresh database: Prefect's 20 s limit was seen to run out on a busy
# 2-core machine (RuntimeError "Timed out while attempting to connect to ephemeral Prefect API server")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
