"""Constants and small helpers shared by the simulator's tests."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from tui.api.credentials import Credentials
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

DATA = Path(__file__).resolve().parents[1] / "data"
REGION = "ap-guangzhou"
HOST = "vclm.tencentcloudapi.com"
SIM_CREDENTIALS = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="test")
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
VIDEO_URL = "https://media.example.invalid/clip.mp4"


def error_code(response: dict[str, Any]) -> str | None:
    error = response.get("Error")
    return error["Code"] if error else None


def is_uuid4(text: str) -> bool:
    try:
        return uuid.UUID(text).version == 4 and str(uuid.UUID(text)) == text
    except (ValueError, TypeError):
        return False


def sample(name: str) -> dict[str, Any]:
    """One of the documented answers in tests/data/responses."""
    return json.loads((DATA / "responses" / name).read_text(encoding="utf-8"))
