"""One-line, plain-language hints for error codes: what it means and what to do (UI-free).

Shared by the monitor's detail pane and the headless `check` report.
"""

from __future__ import annotations

# Exact codes first; then the longest matching prefix ("AuthFailure.Foo" -> "AuthFailure").
HINTS: dict[str, str] = {
    # credentials and account
    "AuthFailure.SecretIdNotFound": "the SecretId is unknown: it was deleted, mistyped, or belongs to another site; check your credentials",
    "AuthFailure.InvalidSecretId": "the SecretId is malformed: check for stray spaces or a truncated copy",
    "AuthFailure.SignatureFailure": "the signature does not match: the SecretKey is wrong for this SecretId",
    "AuthFailure.SignatureExpire": "your clock is more than 5 minutes off: sync it (NTP) and retry",
    "AuthFailure.TokenFailure": "the temporary token is invalid or expired: get new STS credentials",
    "AuthFailure.UnauthorizedOperation": "the CAM policy of this key does not allow vclm:DescribeVideoStylizationJob: ask an admin",
    "AuthFailure.InvalidAuthorization": "the Authorization header is malformed: a client bug, please report it",
    "AuthFailure.MFAFailure": "this account requires MFA for API calls: use a key without that policy",
    "AuthFailure": "authentication failed: check the SecretId, SecretKey and token",
    "UnauthorizedOperation": "not authorised by CAM policy: ask an admin to grant VCLM read access",
    "ResourceUnavailable.NotExist": "the service is not activated for this account, or the account is in arrears: check the console",
    "ResourceUnavailable": "the resource is unavailable: check that VCLM is activated and the account is in good standing",
    "UnsupportedRegion": "VCLM is not offered in this region: use --region ap-guangzhou (or the job's region)",
    # the job
    "FailedOperation.TaskNotExist": "no such job here: wrong id, wrong region (--region), or another account",
    "FailedOperation.TaskStatusError": "the service reports the job's status as abnormal: contact support with the RequestId",
    "FailedOperation.InnerError": "internal service error: it is retried automatically; if it persists, contact support",
    "FailedOperation": "the operation failed on the service side: retry later, then contact support with the RequestId",
    "InvalidParameterValue": "a parameter value is invalid: check the job id (32 hex characters)",
    "InvalidParameter": "a parameter is invalid: check the job id",
    "MissingParameter": "a required parameter is missing: a client bug, please report it",
    # quota and capacity
    "RequestLimitExceeded": "over the 20 req/s quota (shared by everything using this account): the rate was cut back and recovers by itself",
    "RequestLimitExceeded.UinLimitExceeded": "this account is over its request quota: other programs share it; lower --rate",
    "RequestLimitExceeded.GlobalRegionUinLimitExceeded": "this account is over its quota in all regions: lower --rate or stop other callers",
    "RequestLimitExceeded.IPLimitExceeded": "this IP address is over its request quota: lower --rate or stop other callers from this host",
    "ResourceInsufficient": "the service is short of resources: it is retried with backoff",
    "InternalError": "internal error of the API gateway: retried automatically; if it persists, contact support",
    "ServiceUnavailable": "the service is temporarily unavailable: retried with backoff",
    # the API itself
    "InvalidAction": "the action is unknown here: is the endpoint really a VCLM endpoint?",
    "ActionOffline": "this API action was retired: upgrade vclm-watch",
    "NoSuchVersion": "the API version is not supported by this endpoint: check --endpoint",
    "UnknownError": "the service answered with an error without a code: see the raw response",
    # the network (not from the service)
    "Transport.timeout": "no answer in time: the network is slow or down, or the endpoint is unreachable",
    "Transport.connect": "cannot connect: check the network, proxy settings, DNS and --endpoint",
    "Transport.reset": "the connection dropped: a flaky network or proxy; it is retried",
    "Transport.http_status": "a gateway or proxy answered instead of the service: check proxies and --endpoint",
    "Transport.not_json": "the answer was not JSON: a proxy or captive portal is in the way, or --endpoint is wrong",
    "Transport.no_response": "the answer had no Response object: --endpoint is probably not the VCLM API",
    "Transport.too_large": "the answer was far too large: --endpoint is probably not the VCLM API",
    "Transport.encoding": "the answer came compressed in a way not asked for, or corrupt: a proxy is in the way, or --endpoint is wrong",
    "Transport.wrong_job": "the answer was about another job: a proxy or cache in the way mixes answers up, or --endpoint is not the VCLM API",
    "Transport.bad_field": "the answer has a field of the wrong type: a proxy is rewriting answers, or --endpoint is not the VCLM API",
    "Transport.protocol": "the connection failed unexpectedly: check the network and --endpoint",
    "Transport": "a network problem: check the connection, proxies and --endpoint",
    "ConfigError": "a configuration problem: see the message",
}

DEFAULT_HINT = "unexpected error: keep the RequestId and contact support if it persists"


def hint_for(code: str | None) -> str:
    """The plain-language hint for an error code (exact match, else longest prefix, else a default)."""
    if not code:
        return DEFAULT_HINT
    if code in HINTS:
        return HINTS[code]
    parts = code.split(".")
    while len(parts) > 1:
        parts.pop()
        prefix = ".".join(parts)
        if prefix in HINTS:
            return HINTS[prefix]
    return DEFAULT_HINT
