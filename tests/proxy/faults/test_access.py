"""Access keys: who gets in, what goes upstream, and where the proxy may listen."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.protection.access import (
    AccessKeys,
    check_exposure,
    is_loopback,
    presented_key,
    use_upstream_key,
)
from claude_proxy.settings import parse_settings

KEY_A = "team-key-alpha-0001"
KEY_B = "team-key-bravo-0002"


def test_x_api_key_and_bearer_are_both_accepted():
    keys = AccessKeys([KEY_A, KEY_B])
    assert keys.identify({"x-api-key": KEY_A}) == "key-1:****0001"
    assert keys.identify({"authorization": f"Bearer {KEY_B}"}) == "key-2:****0002"
    assert keys.identify({"authorization": f"bearer  {KEY_B} "}) == "key-2:****0002"


@pytest.mark.parametrize("headers", [
    {},
    {"x-api-key": "wrong-key-9999"},
    {"x-api-key": KEY_A[:-1]},
    {"x-api-key": KEY_A + "x"},
    {"authorization": f"Basic {KEY_A}"},
    {"authorization": "Bearer "},
])
def test_a_wrong_or_missing_key_is_401_authentication_error(headers):
    with pytest.raises(ProxyError) as caught:
        AccessKeys([KEY_A]).identify(headers)
    assert caught.value.status == 401 and caught.value.error_type == "authentication_error"
    assert KEY_A not in caught.value.message


def test_the_error_never_repeats_a_presented_key_in_clear():
    with pytest.raises(ProxyError) as caught:
        AccessKeys([KEY_A]).identify({"x-api-key": "sk-ant-secret-value-7777"})
    assert "secret" not in caught.value.message and "7777" in caught.value.message


def test_no_keys_means_open():
    keys = AccessKeys([])
    assert not keys.enabled and keys.identify({}) is None


def test_keys_come_from_settings_and_the_environment():
    settings = parse_settings({"server": {"auth_keys": [KEY_A]}})
    keys = AccessKeys.from_settings(settings.server, env={"CLAUDE_PROXY_KEYS": f"{KEY_B}, other-key-3333"})
    assert len(keys) == 3
    assert keys.identify({"x-api-key": "other-key-3333"}).endswith("3333")


def test_client_credentials_are_replaced_by_the_upstream_key():
    headers = CIMultiDict({"X-Api-Key": KEY_A, "Authorization": "Bearer x", "anthropic-version": "2023-06-01"})
    use_upstream_key(headers, "sk-ant-upstream")
    assert headers.getall("x-api-key") == ["sk-ant-upstream"]
    assert "authorization" not in headers and headers["anthropic-version"] == "2023-06-01"


def test_presented_key_prefers_x_api_key():
    assert presented_key({"x-api-key": "a", "authorization": "Bearer b"}) == "a"
    assert presented_key({"authorization": "Bearer b"}) == "b"
    assert presented_key({}) is None


@pytest.mark.parametrize("host,loop", [("127.0.0.1", True), ("127.0.0.53", True), ("::1", True),
                                       ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                       ("", False), ("::", False), ("192.168.1.10", False),
                                       ("myhost.example", False)])
def test_loopback_detection(host, loop):
    assert is_loopback(host) is loop


def test_refuses_to_listen_exposed_without_keys():
    with pytest.raises(ValueError, match="--allow-unauthenticated"):
        check_exposure(["0.0.0.0"], AccessKeys([]), allow_unauthenticated=False)
    check_exposure(["0.0.0.0"], AccessKeys([]), allow_unauthenticated=True)
    check_exposure(["0.0.0.0"], AccessKeys([KEY_A]), allow_unauthenticated=False)
    check_exposure(["127.0.0.1"], AccessKeys([]), allow_unauthenticated=False)
