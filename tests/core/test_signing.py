"""The signer reproduces what the official SDK sends, header for header."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.api.signing import parse_authorization, signed_headers

VECTORS_PATH = Path(__file__).resolve().parents[1] / "data" / "tc3-vectors.json"  # copied from shared/api
VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))["vectors"]


def test_there_are_vectors_to_check():
    assert len(VECTORS) >= 8


def headers_for(vector: dict) -> dict[str, str]:
    inputs = vector["inputs"]
    return signed_headers(
        secret_id=inputs["secret_id"], secret_key=inputs["secret_key"], token=inputs["token"],
        action=inputs["action"], region=inputs["region"], host=inputs["host"],
        body=inputs["body"].encode("utf-8"), timestamp=inputs["timestamp"],
        version=inputs["version"], language=inputs["language"],
    )


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_authorization_header_matches_official_sdk(vector):
    assert headers_for(vector)["Authorization"] == vector["expected_headers"]["Authorization"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_every_header_matches_official_sdk(vector):
    assert headers_for(vector) == vector["expected_headers"]


def test_signature_changes_with_a_single_body_byte():
    common = dict(secret_id="AKIDtest", secret_key="k", token=None, action="DescribeVideoStylizationJob",
                  region="ap-guangzhou", host="vclm.tencentcloudapi.com", timestamp=1764000000)
    a = signed_headers(body=b'{"JobId": "a"}', **common)["Authorization"]
    b = signed_headers(body=b'{"JobId":"a"}', **common)["Authorization"]
    assert a != b


def test_authorization_parses_back():
    header = VECTORS[0]["expected_headers"]["Authorization"]
    parsed = parse_authorization(header)
    assert parsed is not None
    assert parsed.secret_id == VECTORS[0]["inputs"]["secret_id"]
    assert parsed.service == "vclm"
    assert parsed.signed_headers == "content-type;host"


@pytest.mark.parametrize("header", [
    "",
    "Bearer abc",
    "TC3-HMAC-SHA256 Credential=AKID/2024-06-27/vclm/tc3_request, SignedHeaders=content-type;host",
    "TC3-HMAC-SHA256 Credential=AKID/2024-06-27/vclm/tc3_request, SignedHeaders=content-type;host, Signature=xyz",
])
def test_malformed_authorization_is_rejected(header):
    assert parse_authorization(header) is None
