"""Where the secret comes from: options, environment, tccli profiles, the SDK's INI file.

The secret key and token are held here and handed to the signer; they are never part of a
repr, a str, an error message or anything written to disk.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tui.api.errors import ConfigError
from tui.api.models import DEFAULT_REGION, REGION_RE

ENV_SECRET_ID = "TENCENTCLOUD_SECRET_ID"
ENV_SECRET_KEY = "TENCENTCLOUD_SECRET_KEY"
ENV_TOKEN = "TENCENTCLOUD_TOKEN"
ENV_REGION = "TENCENTCLOUD_REGION"
SYSTEM_CREDENTIALS = Path("/etc/tencentcloud/credentials")


@dataclass(frozen=True)
class Credentials:
    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    source: str = "options"
    # what the user should hear about the file they came from (readable by other users)
    warnings: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def temporary(self) -> bool:
        return bool(self.token)

    def describe(self) -> str:
        """What the status bar may show: the id's ends and where it came from, never the secret."""
        sid = self.secret_id
        shown = sid if len(sid) <= 8 else f"{sid[:4]}…{sid[-4:]}"
        return f"{shown} from {self.source}" + (" (temporary)" if self.temporary else "")

    def __str__(self) -> str:
        return self.describe()


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home())


def validate_profile(profile: str | None) -> str | None:
    """A profile is a name: it picks ~/.tccli/NAME.credential, so a path in it is refused."""
    if profile is None:
        return None
    if any(ch in profile for ch in ("/", "\\", "\0", os.sep)) or ".." in profile or profile == "." \
            or not profile.isprintable():
        raise ConfigError(f"bad profile name {profile[:60]!r}: a tccli profile is a name, without '/', '\\' or '..'")
    return profile


def _read_text(path: Path) -> str:
    """A credential file's text; what is not a regular file (a FIFO, a device, a directory) is
    refused before it is read, so a FIFO cannot hang the start."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise IsADirectoryError(0, "not a regular file") if stat.S_ISDIR(mode) else OSError(0, "not a regular file")
        os.set_blocking(fd, True)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8")
    finally:
        os.close(fd)


def exposure_warning(path: Path) -> str | None:
    """A warning when a file holding a secret can be read or changed by other users, as ssh and
    tccli give (None when only its owner can)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if mode & 0o077:
        return (f"{path} can be read by other users (mode {stat.S_IMODE(mode):04o}): "
                f"the secret key in it is exposed; run chmod 600 {path}")
    return None


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(_read_text(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {type(exc).__name__}") from None
    return data if isinstance(data, dict) else None


def _from_tccli(home: Path, profile: str) -> Credentials | None:
    path = home / ".tccli" / f"{profile}.credential"
    data = _read_json(path)
    if not data:
        return None
    sid, key = data.get("secretId"), data.get("secretKey")
    if isinstance(sid, str) and isinstance(key, str) and sid and key:
        token = data.get("token") if isinstance(data.get("token"), str) else None
        warning = exposure_warning(path)
        return Credentials(sid, key, token or None, source=f"tccli profile {profile!r} ({path})",
                           warnings=(warning,) if warning else ())
    return None


def _from_ini(path: Path, *, private: bool = True) -> Credentials | None:
    import configparser  # (here: only credentials are read from INI files; `add` reads none)

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(_read_text(path), source=str(path))
    except FileNotFoundError:
        return None
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse {path}: {type(exc).__name__}") from None
    if not parser.has_section("default"):
        return None
    sid = parser.get("default", "secret_id", fallback="").strip()
    key = parser.get("default", "secret_key", fallback="").strip()
    if sid and key:
        warning = exposure_warning(path) if private else None
        return Credentials(sid, key, None, source=str(path), warnings=(warning,) if warning else ())
    return None


def resolve_credentials(
    *,
    secret_id: str | None = None,
    secret_key: str | None = None,
    token: str | None = None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
    system_file: Path = SYSTEM_CREDENTIALS,
) -> Credentials:
    """The first complete set of credentials along the ecosystem's chain, else a ConfigError."""
    env = os.environ if env is None else env
    profile = validate_profile(profile) or "default"
    home = _home(env)
    if secret_id and secret_key:
        return Credentials(secret_id, secret_key, token or None, source="command-line options")
    sid, key = env.get(ENV_SECRET_ID, ""), env.get(ENV_SECRET_KEY, "")
    if sid and key:
        return Credentials(sid, key, env.get(ENV_TOKEN) or None, source="environment")
    found = _from_tccli(home, profile)
    if found:
        return found
    for path, private in ((home / ".tencentcloud" / "credentials", True), (system_file, False)):
        found = _from_ini(path, private=private)  # a system-wide file is the administrator's choice
        if found:
            return found
    tried = [
        f"{ENV_SECRET_ID} / {ENV_SECRET_KEY} environment variables",
        f"tccli profile {home / '.tccli' / (profile + '.credential')}",
        str(home / ".tencentcloud" / "credentials"),
        str(system_file),
    ]
    if secret_id or secret_key:
        tried.insert(0, "--secret-id with --secret-key (only one was given)")
    raise ConfigError("no Tencent Cloud credentials found; tried: " + "; ".join(tried))


def resolve_region(
    *,
    option: str | None = None,
    profile: str | None = None,
    config_region: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """(region, where it came from): option, environment, tccli profile, config file, default.

    A region not of a region's form (`ap-guangzhou`) is a ConfigError naming where it came from.
    """
    region, source = _find_region(option=option, profile=profile, config_region=config_region,
                                  env=os.environ if env is None else env)
    check_region(region, source)
    return region, source


def check_region(region: str, source: str) -> None:
    if not REGION_RE.match(region):
        where = {"option": "--region", "environment": ENV_REGION}.get(source, source)
        raise ConfigError(f"bad region {region[:60]!r} (from {where}): a region is lower-case letters, "
                          "digits and hyphens, such as ap-guangzhou or na-siliconvalley")


def _find_region(*, option: str | None, profile: str | None, config_region: str | None,
                 env: Mapping[str, str]) -> tuple[str, str]:
    if option:
        return option, "option"
    if env.get(ENV_REGION):
        return env[ENV_REGION], "environment"
    profile = validate_profile(profile) or "default"
    try:
        data = _read_json(_home(env) / ".tccli" / f"{profile}.configure")
    except ConfigError:
        data = None
    if data:
        sys_param = data.get("_sys_param")
        region = sys_param.get("region") if isinstance(sys_param, dict) else None
        if isinstance(region, str) and region:
            return region, f"tccli profile {profile!r}"
    if config_region:
        return config_region, "config file"
    return DEFAULT_REGION, "default"
