"""Signature v1 reproduces, byte for byte, the form bodies the official SDK's v1 signer sends."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from tui.api.signing import v1_signature, v1_signed_params, v1_string_to_sign, verify_v1

VECTORS_PATH = Path(__file__).resolve().parents[1] / "data" / "v1-vectors.json"  # copied from shared/api
CASES = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))["cases"]


def case_id(case: dict) -> str:
    return f"{case['signature_method']}-{case['host']}" + ("-token" if case["token"] else "")


def fields_for(case: dict) -> dict[str, str]:
    request_client = dict(parse_qsl(case["body"]))["RequestClient"]
    return v1_signed_params(
        secret_id=case["secret_id"], secret_key=case["secret_key"], token=case["token"], action=case["action"],
        region=case["region"], host=case["host"], params=case["params"], timestamp=case["timestamp"],
        nonce=case["nonce"], signature_method=case["signature_method"], version=case["version"],
        request_client=request_client, method=case["http_method"], path=case["path"],
    )


def test_there_are_vectors_for_both_methods_and_a_token():
    assert {case["signature_method"] for case in CASES} == {"HmacSHA256", "HmacSHA1"}
    assert any(case["token"] for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_signed_body_matches_the_official_sdk(case):
    assert urlencode(fields_for(case)) == case["body"]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_sdk_s_body_verifies(case):
    fields = dict(parse_qsl(case["body"], keep_blank_values=True))
    assert verify_v1(fields, case["secret_key"], method=case["http_method"], host=case["host"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize(("spoil", "value"), [
    ("JobId", "00000000000000000000000000000000"), ("Timestamp", "1551113066"), ("Nonce", "11887"),
    ("Signature", None),  # the same signature, reversed
])
def test_any_changed_field_fails_verification(case, spoil, value):
    fields = dict(parse_qsl(case["body"], keep_blank_values=True))
    value = fields[spoil][::-1] if value is None else value
    assert fields[spoil] != value
    fields[spoil] = value
    assert not verify_v1(fields, case["secret_key"], method=case["http_method"], host=case["host"])


def test_another_key_host_or_method_fails_verification():
    case = CASES[0]
    fields = dict(parse_qsl(case["body"]))
    assert not verify_v1(fields, case["secret_key"] + "x", method="POST", host=case["host"])
    assert not verify_v1(fields, case["secret_key"], method="POST", host=case["host"] + ":443")
    assert not verify_v1(fields, case["secret_key"], method="GET", host=case["host"])


def test_the_string_to_sign_reads_underscores_as_dots_sorts_and_keeps_raw_values():
    text = v1_string_to_sign("post", "127.0.0.1:8080", "/", {"B": "x y&z", "A_0_C": 1, "Signature": "ignored"})
    assert text == "POST127.0.0.1:8080/?A.0.C=1&B=x y&z"


@pytest.mark.parametrize("method", [None, "HmacSHA1", "something-else"])
def test_anything_but_hmac_sha256_is_hmac_sha1(method):
    assert v1_signature("k", "text", method) == v1_signature("k", "text", "HmacSHA1") != v1_signature("k", "text", "HmacSHA256")
