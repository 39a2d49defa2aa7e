"""The shell commands beside the TUI: `check`, `add`, `remove` and `ls` (no screen, exit codes for scripts)."""
