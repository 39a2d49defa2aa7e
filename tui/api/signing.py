"""Request signing (Tencent Cloud API 3.0): TC3-HMAC-SHA256, and signature v1 for the simulator; shared by client and simulator."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tui.api.models import API_VERSION, SERVICE

ALGORITHM = "TC3-HMAC-SHA256"
SIGNED_HEADERS = "content-type;host"
CONTENT_TYPE = "application/json"
DEFAULT_LANGUAGE = "zh-CN"  # what the official SDK sends when none is chosen


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def canonical_request(host: str, body: bytes, content_type: str = CONTENT_TYPE) -> str:
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_headers = f"content-type:{content_type.strip().lower()}\nhost:{host.strip().lower()}\n"
    return "\n".join(["POST", "/", "", canonical_headers, SIGNED_HEADERS, payload_hash])


def signature(
    secret_key: str,
    host: str,
    body: bytes,
    timestamp: int,
    service: str = SERVICE,
    content_type: str = CONTENT_TYPE,
) -> str:
    date = utc_date(timestamp)
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request(host, body, content_type).encode("utf-8")).hexdigest(),
        ]
    )
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, "tc3_request")
    return hmac.new(k_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(
    secret_id: str,
    secret_key: str,
    host: str,
    body: bytes,
    timestamp: int,
    service: str = SERVICE,
) -> str:
    sig = signature(secret_key, host, body, timestamp, service)
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={sig}"


def signed_headers(
    *,
    secret_id: str,
    secret_key: str,
    token: str | None,
    action: str,
    region: str | None,
    host: str,
    body: bytes,
    timestamp: int,
    version: str = API_VERSION,
    language: str | None = None,
) -> dict[str, str]:
    """Every header of a signed request, in the order the official SDK sends them."""
    headers = {
        "Content-Type": CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": version,
    }
    if region:
        headers["X-TC-Region"] = region
    if token:
        headers["X-TC-Token"] = token
    headers["X-TC-Language"] = language or DEFAULT_LANGUAGE
    headers["Authorization"] = authorization(secret_id, secret_key, host, body, timestamp)
    return headers


_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/\s,]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/\s,]+)/tc3_request,"
    r"\s*SignedHeaders=(?P<signed_headers>[a-z0-9;\-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    secret_id: str
    date: str
    service: str
    signed_headers: str
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Split an Authorization header as a server would; None when it is malformed."""
    match = _AUTH_RE.match(value.strip())
    if not match:
        return None
    return ParsedAuthorization(**match.groupdict())


# -- signature v1 (HmacSHA256 / HmacSHA1) ---------------------------------------------------------
# The older signature API 3.0 still accepts, which the tccli releases that know this action send
# (see VCLM-API.md, "Signature v1"). The client signs with TC3; the simulator verifies both.

V1_HMAC_SHA256 = "HmacSHA256"
V1_HMAC_SHA1 = "HmacSHA1"
V1_SIGNATURE_METHODS = (V1_HMAC_SHA256, V1_HMAC_SHA1)
# The fields of a v1 request that are not the action's own parameters.
V1_COMMON_FIELDS = frozenset({"Action", "Version", "Region", "Timestamp", "Nonce", "SecretId", "SignatureMethod",
                              "Signature", "Token", "Language", "RequestClient"})


def v1_digest(signature_method: str | None) -> Callable[[], Any]:
    """The hash a v1 signature is made with: SHA-256 only when HmacSHA256 is named, else SHA-1.

    As the service documents it: any other value, or none, is verified as HmacSHA1.
    """
    return hashlib.sha256 if signature_method == V1_HMAC_SHA256 else hashlib.sha1


def v1_string_to_sign(method: str, host: str, path: str, params: Mapping[str, object]) -> str:
    """METHOD + host + path + '?' + every parameter but Signature, `_` read as `.`, sorted, raw values."""
    fields = {str(name).replace("_", "."): value for name, value in params.items() if name != "Signature"}
    query = "&".join(f"{name}={fields[name]}" for name in sorted(fields))
    return f"{method.upper()}{host}{path}?{query}"


def v1_signature(secret_key: str, string_to_sign: str, signature_method: str | None) -> str:
    digest = hmac.new(secret_key.encode("utf-8"), string_to_sign.encode("utf-8"), v1_digest(signature_method)).digest()
    return base64.b64encode(digest).decode("ascii")


def v1_signed_params(
    *,
    secret_id: str,
    secret_key: str,
    token: str | None,
    action: str,
    region: str | None,
    host: str,
    params: Mapping[str, object],
    timestamp: int,
    nonce: int,
    signature_method: str = V1_HMAC_SHA256,
    version: str = API_VERSION,
    language: str | None = DEFAULT_LANGUAGE,
    request_client: str | None = None,
    method: str = "POST",
    path: str = "/",
) -> dict[str, str]:
    """Every field of a v1-signed request, in the order the official SDK sends them.

    Send them form-encoded (`urllib.parse.urlencode`) as a POST body, or as a GET query string.
    The action's `params` must already be flat (`A.0.B` for nested ones).
    """
    fields: dict[str, str] = {name: str(value) for name, value in params.items()}
    fields["Action"] = action
    if request_client:
        fields["RequestClient"] = request_client
    fields["Nonce"] = str(nonce)
    fields["Timestamp"] = str(timestamp)
    fields["Version"] = version
    if region:
        fields["Region"] = region
    if token:
        fields["Token"] = token
    fields["SecretId"] = secret_id
    fields["SignatureMethod"] = signature_method
    if language:
        fields["Language"] = language
    fields["Signature"] = v1_signature(secret_key, v1_string_to_sign(method, host, path, fields), signature_method)
    return fields


def verify_v1(fields: Mapping[str, str], secret_key: str, *, method: str, host: str, path: str = "/") -> bool:
    """Whether `fields` (a v1 request's parameters, decoded) carry a valid Signature for this key."""
    given = fields.get("Signature", "")
    expected = v1_signature(secret_key, v1_string_to_sign(method, host, path, fields), fields.get("SignatureMethod"))
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", errors="replace"))
