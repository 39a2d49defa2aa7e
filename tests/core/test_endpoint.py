"""Endpoint resolution, the signed Host, and the refusal of plain http off loopback."""

from __future__ import annotations

import pytest

from tui.api.endpoint import resolve_endpoint
from tui.api.errors import ConfigError


def test_default_endpoint_is_the_global_host_over_https():
    endpoint = resolve_endpoint()
    assert (endpoint.url, endpoint.host) == ("https://vclm.tencentcloudapi.com/", "vclm.tencentcloudapi.com")


def test_regional_host_on_request():
    endpoint = resolve_endpoint(None, "ap-shanghai", regional=True)
    assert endpoint.host == "vclm.ap-shanghai.tencentcloudapi.com"


@pytest.mark.parametrize("url, host", [
    ("http://127.0.0.1:8080", "127.0.0.1:8080"),
    ("http://127.0.0.1:8080/", "127.0.0.1:8080"),
    ("http://localhost:9", "localhost:9"),
    ("http://127.5.6.7", "127.5.6.7"),
    ("http://[::1]:8080", "[::1]:8080"),
    ("https://vclm.example.com:8443", "vclm.example.com:8443"),
])
def test_signed_host_is_the_urls_host_and_port(url, host):
    assert resolve_endpoint(url).host == host


@pytest.mark.parametrize("url", ["http://10.0.0.5:8080", "http://vclm.tencentcloudapi.com", "http://192.168.1.2"])
def test_plain_http_to_a_non_loopback_host_is_refused(url):
    with pytest.raises(ConfigError) as info:
        resolve_endpoint(url)
    assert "plain http" in str(info.value)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "http://", "https://host/path", "http://127.0.0.1:99999",
                                 "https://user:pw@host"])
def test_bad_endpoints_are_config_errors(url):
    with pytest.raises(ConfigError) as info:
        resolve_endpoint(url)
    assert "endpoint" in str(info.value) or "plain http" in str(info.value)


@pytest.mark.parametrize(("url", "meant"), [
    ("127.0.0.1:38555", "http://127.0.0.1:38555"),
    ("localhost:8080", "http://localhost:8080"),
    ("vclm.ap-beijing.tencentcloudapi.com", "https://vclm.ap-beijing.tencentcloudapi.com"),
    ("example.com:443", "https://example.com:443"),
])
def test_an_endpoint_without_a_scheme_is_refused_with_the_one_it_likely_meant(url, meant):
    with pytest.raises(ConfigError) as info:
        resolve_endpoint(url)
    assert "scheme" in str(info.value) and repr(meant) in str(info.value)


def test_a_config_file_endpoint_without_a_scheme_is_refused_naming_the_file(tmp_path):
    from tui.core.config import load_config

    path = tmp_path / "config.toml"
    path.write_text('endpoint = "127.0.0.1:38555"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "'http://127.0.0.1:38555'" in str(info.value)
