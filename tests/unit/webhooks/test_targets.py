"""Where deliveries may go: the URL's form, and every address its host resolves to."""

from __future__ import annotations

import ipaddress
import re

import pytest

from mongoshop.errors import ValidationFailed
from mongoshop.webhooks.targets import (
    TargetRefused,
    check_addresses,
    checked_addresses,
    forbidden_reason,
    parse_target,
)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example/x", "must be https"),
        ("ftp://hooks.example/x", "must be https"),
        ("https://user:pw@hooks.example/x", "password"),
        ("https://hooks.example/x#part", "fragment"),
        ("https://hooks.example/x#", "fragment"),
        ("HTTPS://hooks.example/x", "must be https"),
        ("https:///x", "must name a host"),
        ("https://hooks.example:99999/x", "Port"),
        ("https://hooks.example/a b", "spaces"),
        ("https://hooks.example/\r\nX-Evil: 1", "control"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        parse_target(url, require_https=True)


def test_http_is_allowed_outside_production() -> None:
    target = parse_target("http://Hooks.Example:8080/in?x=1", require_https=False)
    assert (target.scheme, target.host, target.port, target.path) == (
        "http",
        "hooks.example",
        8080,
        "/in?x=1",
    )
    assert target.host_header == "hooks.example:8080"
    assert target.url_for("93.184.215.14") == "http://93.184.215.14:8080/in?x=1"


def test_an_international_host_is_used_as_its_a_label_everywhere() -> None:
    target = parse_target("https://Bücher.example/hook", require_https=True)
    assert target.host == "xn--bcher-kva.example"
    assert target.host_header == "xn--bcher-kva.example"  # ASCII: the request can be built
    assert parse_target("https://xn--bcher-kva.example/hook", require_https=True) == target


@pytest.mark.parametrize(
    "host",
    [
        "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",  # full-width "localhost"
        "stra\u00dfe.example",  # IDNA 2003 maps it to "strasse": another name
        "\u2460.example",  # a circled 1 becomes "1"
    ],
)
def test_a_host_that_normalisation_changes_is_refused(host: str) -> None:
    with pytest.raises(ValidationFailed, match=r"normal form|not valid"):
        parse_target(f"https://{host}/x", require_https=True)


def test_an_ipv6_target_keeps_its_brackets() -> None:
    target = parse_target("https://[2606:4700::1111]/x", require_https=True)
    assert target.host == "2606:4700::1111"
    assert target.host_header == "[2606:4700::1111]"
    assert target.url_for("2606:4700::1111") == "https://[2606:4700::1111]:443/x"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("feff:ffff::1", "site-local"),
        ("fd00:ec2::254", "private"),
        ("100.64.0.1", "not a public address"),
        ("0.0.0.0", "private"),
        ("224.0.0.1", "unicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.1.1", "private"),
        ("2002:0a00:0001::1", "private"),  # 6to4 around 10.0.0.1
    ],
)
def test_internal_addresses_are_forbidden(address: str, reason: str) -> None:
    found = forbidden_reason(ipaddress.ip_address(address))
    assert found is not None
    assert reason in found


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.7"):
        check_addresses("mixed.example", ["93.184.215.14", "10.0.0.7"], allow_private=False)
    assert check_addresses("mixed.example", ["10.0.0.7"], allow_private=True) == ["10.0.0.7"]


def test_nothing_resolved_is_an_error() -> None:
    with pytest.raises(OSError, match="does not resolve"):
        check_addresses("nothing.example", [], allow_private=False)


async def test_an_ip_literal_is_not_resolved_and_a_name_is() -> None:
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.215.14"]

    literal = parse_target("https://1.1.1.1/x", require_https=True)
    assert await checked_addresses(literal, resolver, allow_private=False) == ["1.1.1.1"]
    named = parse_target("https://hooks.example/x", require_https=True)
    assert await checked_addresses(named, resolver, allow_private=False) == ["93.184.215.14"]
    assert asked == ["hooks.example"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example",
        "https://hooks.example/in",
        "https://hooks.example?x=1",
        "https://hooks.example:8443/a/b?c=d&e=f",
        "https://[2606:4700::1111]/x",
        "http://127.0.0.1:9/hooks?from=mongoshop",
    ],
)
def test_the_schemas_pattern_accepts_what_the_check_accepts(url: str) -> None:
    from mongoshop.models.webhooks import URL_PATTERN

    parse_target(url, require_https=False)
    assert re.match(URL_PATTERN, url)


@pytest.mark.parametrize(
    "url",
    ["hooks.example", "https://", "https://u@h/x", "https://h/x#", "https://h /x", "ftp://h/x"],
)
def test_what_the_schemas_pattern_refuses_the_check_refuses(url: str) -> None:
    from mongoshop.models.webhooks import URL_PATTERN

    assert not re.match(URL_PATTERN, url)
    with pytest.raises(ValidationFailed):
        parse_target(url, require_https=False)
