"""The demo's jobs: a dozen with mixed fates, timed so rows change within the first minute."""

from __future__ import annotations

from tui.api.models import JOB_FAILED, JOB_MODERATION_FAILED, JOB_SUCCESS
from tui.simulator.service import Simulator

# style, fate, seconds in JobInit, seconds in JobRunning, InnerError answers first, label.
# Times are simulated seconds (divided by the simulator's speed).
DEMO_JOBS: tuple[tuple[str, str, float, float, int, str], ...] = (
    ("2d_anime", JOB_SUCCESS, 0.0, 0.0, 0, "anime trailer (already done)"),
    ("3d_cartoon", JOB_SUCCESS, 1.0, 7.0, 0, "cartoon teaser (quick)"),
    ("2d_anime", JOB_SUCCESS, 2.0, 14.0, 0, "anime opening"),
    ("pixel_art", JOB_SUCCESS, 3.0, 22.0, 0, "pixel-art loop"),
    ("3d_china", JOB_FAILED, 2.0, 18.0, 0, "ink-wash short (fails while processing)"),
    ("2d_anime", JOB_MODERATION_FAILED, 4.0, 0.0, 0, "beach clip (rejected by moderation)"),
    ("3d_cartoon", JOB_SUCCESS, 2.0, 25.0, 3, "flaky: first queries hit InnerError"),
    ("3d_china", JOB_SUCCESS, 3.0, 34.0, 0, "lantern festival"),
    ("pixel_art", JOB_SUCCESS, 2.0, 45.0, 0, "retro game intro"),
    ("2d_anime", JOB_SUCCESS, 3.0, 52.0, 0, "music video, high strength"),
    ("3d_cartoon", JOB_SUCCESS, 5.0, 170.0, 0, "feature-length render (slow)"),
)
PHANTOM_LABEL = "typo'd id (no such job)"


async def seed_demo(simulator: Simulator) -> list[tuple[str, str]]:
    """Create the demo jobs on `simulator` now; (job_id, label) pairs, one id that does not exist."""
    pairs = [
        (
            simulator.create_job(style, fate=fate, init_seconds=init, run_seconds=run, inner_errors=inner_errors),
            label,
        )
        for style, fate, init, run, inner_errors, label in DEMO_JOBS
    ]
    pairs.insert(5, (simulator.phantom_job_id(), PHANTOM_LABEL))
    return pairs
