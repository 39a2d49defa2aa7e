"""`python -m tui` runs the same entry point as the `vclm-watch` command."""

from tui.cli import main

raise SystemExit(main())
