"""What the command line says to a mistyped command or choice (argparse, plus the nearest match)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("typed", "meant"), [("chek", "check"), ("lss", "ls"), ("remvoe", "remove"),
                                              ("simulat", "simulate")])
def test_a_mistyped_command_suggests_the_nearest_one_and_exits_2(shell, typed, meant):
    result = shell(typed)
    assert result.code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert f"unknown command {typed!r}; did you mean {meant!r}?" in last
    assert "invalid choice" not in result.stderr


def test_a_command_like_no_other_lists_the_commands_without_a_guess(shell):
    result = shell("zzzz")
    assert result.code == 2
    assert "did you mean" not in result.stderr and "commands: simulate, check" in result.stderr


def test_a_mistyped_option_choice_suggests_the_nearest_one(shell):
    result = shell("check", "--color", "nevr", "0" * 32)
    assert result.code == 2
    assert "did you mean 'never'?" in result.stderr
