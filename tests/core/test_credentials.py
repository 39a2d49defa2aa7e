"""The credential chain and region resolution, in a temporary HOME."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.api.credentials import Credentials, resolve_credentials, resolve_region
from tui.api.errors import ConfigError

NOWHERE = Path("/nonexistent/etc/tencentcloud/credentials")


def write_tccli(home: Path, profile: str = "default", token: str | None = None, region: str | None = None) -> None:
    (home / ".tccli").mkdir(exist_ok=True)
    cred = {"secretId": f"AKIDtccli{profile}", "secretKey": "tccli-key"}
    if token:
        cred["token"] = token
    (home / ".tccli" / f"{profile}.credential").write_text(json.dumps(cred))
    if region:
        (home / ".tccli" / f"{profile}.configure").write_text(json.dumps({"_sys_param": {"region": region}}))


def write_ini(home: Path) -> None:
    (home / ".tencentcloud").mkdir(exist_ok=True)
    (home / ".tencentcloud" / "credentials").write_text("[default]\nsecret_id = AKIDini\nsecret_key = ini-key\n")


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), **extra}


def test_options_win_over_everything(isolated_home):
    write_tccli(isolated_home)
    creds = resolve_credentials(secret_id="AKIDopt", secret_key="opt-key",
                                env=env_for(isolated_home, TENCENTCLOUD_SECRET_ID="AKIDenv", TENCENTCLOUD_SECRET_KEY="k"))
    assert creds.secret_id == "AKIDopt"


def test_environment_comes_before_files(isolated_home):
    write_tccli(isolated_home)
    write_ini(isolated_home)
    creds = resolve_credentials(env=env_for(isolated_home, TENCENTCLOUD_SECRET_ID="AKIDenv",
                                            TENCENTCLOUD_SECRET_KEY="env-key", TENCENTCLOUD_TOKEN="tok"),
                                system_file=NOWHERE)
    assert (creds.secret_id, creds.secret_key, creds.token, creds.source) == ("AKIDenv", "env-key", "tok", "environment")
    assert creds.temporary


def test_tccli_profile_comes_before_ini(isolated_home):
    write_tccli(isolated_home)
    write_ini(isolated_home)
    creds = resolve_credentials(env=env_for(isolated_home), system_file=NOWHERE)
    assert creds.secret_id == "AKIDtcclidefault"
    assert "tccli" in creds.source


def test_named_tccli_profile_with_token(isolated_home):
    write_tccli(isolated_home, "prod", token="sts-token")
    creds = resolve_credentials(profile="prod", env=env_for(isolated_home), system_file=NOWHERE)
    assert creds.secret_id == "AKIDtccliprod"
    assert creds.token == "sts-token"


def test_ini_file_is_the_last_resort(isolated_home):
    write_ini(isolated_home)
    creds = resolve_credentials(env=env_for(isolated_home), system_file=NOWHERE)
    assert (creds.secret_id, creds.secret_key) == ("AKIDini", "ini-key")


def test_system_ini_file_is_read_after_the_home_one(isolated_home, tmp_path):
    system = tmp_path / "credentials"
    system.write_text("[default]\nsecret_id = AKIDsys\nsecret_key = sys-key\n")
    creds = resolve_credentials(env=env_for(isolated_home), system_file=system)
    assert creds.secret_id == "AKIDsys"


def test_no_credentials_names_every_source_env_first(isolated_home):
    with pytest.raises(ConfigError) as info:
        resolve_credentials(env=env_for(isolated_home), system_file=NOWHERE)
    message = str(info.value)
    positions = [message.find(s) for s in ("TENCENTCLOUD_SECRET_ID", ".tccli", ".tencentcloud/credentials", str(NOWHERE))]
    assert all(p >= 0 for p in positions), message
    assert positions == sorted(positions)


def test_half_set_environment_is_not_enough(isolated_home):
    with pytest.raises(ConfigError):
        resolve_credentials(env=env_for(isolated_home, TENCENTCLOUD_SECRET_ID="AKIDonly"), system_file=NOWHERE)


def test_broken_tccli_file_is_a_clear_error_without_its_contents(isolated_home):
    (isolated_home / ".tccli").mkdir()
    (isolated_home / ".tccli" / "default.credential").write_text('{"secretKey": "leaky-secret", ')
    with pytest.raises(ConfigError) as info:
        resolve_credentials(env=env_for(isolated_home), system_file=NOWHERE)
    assert "default.credential" in str(info.value)
    assert "leaky-secret" not in str(info.value)


def test_secret_never_in_repr_or_str():
    creds = Credentials("AKIDabcdefgh1234", "super-secret-key", "session-token", source="environment")
    for text in (repr(creds), str(creds), creds.describe()):
        assert "super-secret-key" not in text
        assert "session-token" not in text
    assert "environment" in creds.describe()


@pytest.mark.parametrize(
    "option, env_region, profile_region, config_region, expected",
    [
        ("ap-beijing", "ap-shanghai", "ap-chengdu", "ap-nanjing", ("ap-beijing", "option")),
        (None, "ap-shanghai", "ap-chengdu", "ap-nanjing", ("ap-shanghai", "environment")),
        (None, None, "ap-chengdu", "ap-nanjing", ("ap-chengdu", "tccli profile 'default'")),
        (None, None, None, "ap-nanjing", ("ap-nanjing", "config file")),
        (None, None, None, None, ("ap-guangzhou", "default")),
    ],
)
def test_region_resolution_order(isolated_home, option, env_region, profile_region, config_region, expected):
    if profile_region:
        write_tccli(isolated_home, region=profile_region)
    env = env_for(isolated_home, **({"TENCENTCLOUD_REGION": env_region} if env_region else {}))
    assert resolve_region(option=option, config_region=config_region, env=env) == expected


BAD_REGIONS = ["bad region!", "AP-GUANGZHOU", "guangzhou", "ap-guangzhou.evil.example", "ap-guangzhou\r\nX: 1"]


@pytest.mark.parametrize("region", BAD_REGIONS)
@pytest.mark.parametrize("source", ["option", "environment", "tccli profile", "config file"])
def test_a_malformed_region_is_refused_naming_where_it_came_from(isolated_home, region, source):
    env = env_for(isolated_home, **({"TENCENTCLOUD_REGION": region} if source == "environment" else {}))
    if source == "tccli profile":
        write_tccli(isolated_home, region=region)
    with pytest.raises(ConfigError) as info:
        resolve_region(option=region if source == "option" else None,
                       config_region=region if source == "config file" else None, env=env)
    message = str(info.value)
    assert "bad region" in message and "ap-guangzhou" in message
    assert {"option": "--region", "environment": "TENCENTCLOUD_REGION"}.get(source, source) in message


def test_a_malformed_region_in_the_config_file_is_refused_naming_the_file(tmp_path):
    from tui.core.config import load_config

    path = tmp_path / "config.toml"
    path.write_text('region = "bad region!"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "bad region" in str(info.value)
