"""What the monitor remembers between runs: the theme, in a state file of its own."""

from __future__ import annotations

import os

import pytest

from tui.core.preferences import remember_theme, remembered_theme


def test_a_remembered_theme_is_read_back(tmp_path):
    path = tmp_path / "data" / "state.toml"
    assert remembered_theme(path) is None
    assert remember_theme("vclm-light", path)
    assert remembered_theme(path) == "vclm-light"
    assert remember_theme("vclm-okabe-ito", path)
    assert remembered_theme(path) == "vclm-okabe-ito"
    assert [p.name for p in path.parent.iterdir()] == ["state.toml"]  # no temporary file left


@pytest.mark.parametrize("text", ["theme = [not toml", "theme = 3", "other = 'x'", "\xff\xfe"])
def test_a_state_file_that_cannot_be_used_is_ignored(tmp_path, text):
    path = tmp_path / "state.toml"
    path.write_bytes(text.encode("latin-1"))
    assert remembered_theme(path) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_data_dir_costs_only_the_memory(tmp_path):
    tmp_path.chmod(0o500)
    try:
        assert not remember_theme("vclm-light", tmp_path / "state.toml")
    finally:
        tmp_path.chmod(0o700)
