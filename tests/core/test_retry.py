"""Which failures are retried, and how long the client waits between attempts."""

from __future__ import annotations

import random

import pytest

from tui.api.errors import ApiError, ConfigError, TransportError
from tui.api.retry import RetryPolicy, is_retryable

RETRIED = [
    "InternalError", "FailedOperation.InnerError", "ResourceInsufficient", "ServiceUnavailable",
    "RequestLimitExceeded", "RequestLimitExceeded.UinLimitExceeded",
    "RequestLimitExceeded.GlobalRegionUinLimitExceeded", "RequestLimitExceeded.IPLimitExceeded",
]
NOT_RETRIED = [
    "AuthFailure.SignatureFailure", "AuthFailure.SignatureExpire", "AuthFailure.SecretIdNotFound",
    "FailedOperation.TaskNotExist", "InvalidParameter", "InvalidParameterValue",
    "InvalidParameterValue.ParameterValueError", "UnauthorizedOperation", "MissingParameter",
]


@pytest.mark.parametrize("code", RETRIED)
def test_retried_api_errors(code):
    assert is_retryable(ApiError(code, "m", "rid"))


@pytest.mark.parametrize("code", NOT_RETRIED)
def test_not_retried_api_errors(code):
    assert not is_retryable(ApiError(code, "m", "rid"))


@pytest.mark.parametrize("kind", ["timeout", "connect", "reset", "http_status", "not_json", "no_response"])
def test_transport_errors_are_retried(kind):
    assert is_retryable(TransportError(kind, "x"))


def test_config_errors_are_not_retried():
    assert not is_retryable(ConfigError("no credentials"))


def test_backoff_is_full_jitter_under_an_exponential_ceiling():
    policy = RetryPolicy(base=0.5, cap=30.0, rng=random.Random(7))
    for n, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 30.0)]:
        delays = [policy.delay(n) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spans the range, not a fixed wait


def test_attempts_are_bounded():
    policy = RetryPolicy(attempts=3)
    error = ApiError("InternalError", "m", "rid")
    assert policy.should_retry(error, 1)
    assert policy.should_retry(error, 2)
    assert not policy.should_retry(error, 3)
