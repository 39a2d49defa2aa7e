"""vclm-watch: a terminal monitor for Tencent Cloud VCLM video-stylization jobs."""

__version__ = "0.1.0"
