"""A banner for problems that affect every job (credentials, auth, network, the watchlist file).

It sits above the table and never takes focus: the UI stays usable underneath.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from tui.core.formatting import inert


class ProblemBanner(Static):
    DEFAULT_CSS = """
    ProblemBanner {
        height: auto;
        max-height: 6;
        display: none;
        background: $error 25%;
        color: $foreground;
        border-left: thick $error;
        padding: 0 1;
    }
    ProblemBanner.-shown {
        display: block;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.problems: dict[str, tuple[str, str]] = {}  # slot -> (title, detail)

    def show(self, problems: dict[str, tuple[str, str]]) -> None:
        """Show these problems (slot -> (title, detail)); none hides the banner."""
        if problems == self.problems:
            return
        self.problems = dict(problems)
        text = Text()
        for n, (title, detail) in enumerate(self.problems.values()):
            if n:
                text.append("\n")
            text.append("⚠ ", Style(bold=True))
            text.append(inert(title, 200), Style(bold=True))
            if detail:
                text.append(": ")
                text.append(inert(detail, 600))
        self.update(text)
        self.set_class(bool(self.problems), "-shown")

    @property
    def text(self) -> str:
        return "\n".join(f"{t}: {d}" for t, d in self.problems.values())
