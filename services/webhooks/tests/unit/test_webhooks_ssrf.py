"""The SSRF guard: address classes, the allow-list, URL checks, and the transport that
connects only to the address it checked (with the Host header and name preserved)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from spooled_testing.receiver import Reply, WebhookReceiver
from spooled_webhooks.sending.sender import Sender
from spooled_webhooks.sending.ssrf import (
    AllowList,
    DestinationGuard,
    Refused,
    ResolutionFailed,
    is_public,
)

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "100.64.0.1",  # CGNAT
    "100.100.100.200",  # Alibaba metadata (CGNAT)
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "192.0.2.10",  # documentation
    "198.18.0.1",  # benchmarking
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS metadata over IPv6 (ULA)
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "ff02::1",
    "2001:db8::1",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_allow_list_parsing() -> None:
    allow = AllowList.parse("127.0.0.1, Hooks.Example.COM. 10.0.0.0/8 ::1 fd00::/8")
    assert allow.host_allowed("127.0.0.1") and allow.host_allowed("hooks.example.com")
    assert allow.host_allowed("[::1]") and allow.host_allowed("0:0::1")
    assert not allow.host_allowed("localhost")
    assert allow.address_allowed(ipaddress.ip_address("10.9.8.7"))
    assert allow.address_allowed(ipaddress.ip_address("fd12::1"))
    assert not allow.address_allowed(ipaddress.ip_address("11.0.0.1"))
    with pytest.raises(SystemExit):
        AllowList.parse("10.0.0.0/40")


def resolver(table: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[Any]:
        if host not in table:
            raise ResolutionFailed(f"{host} unknown")
        return [ipaddress.ip_address(a) for a in table[host]]

    return resolve


class TestGuard:
    async def test_any_private_answer_refuses_the_name(self) -> None:
        guard = DestinationGuard(resolver=resolver({"mixed.test": ["93.184.216.34", "10.0.0.5"]}))
        with pytest.raises(Refused, match=r"10\.0\.0\.5"):
            await guard.addresses("mixed.test", 443)

    async def test_public_names_and_literals_pass(self) -> None:
        guard = DestinationGuard(resolver=resolver({"ok.test": ["93.184.216.34"]}))
        assert await guard.addresses("ok.test", 443) == ["93.184.216.34"]
        assert await guard.addresses("[2606:4700:4700::1111]", 443) == ["2606:4700:4700::1111"]

    async def test_allow_list_by_host_and_by_network(self) -> None:
        guard = DestinationGuard(
            AllowList.parse("127.0.0.1 dev.test 192.168.0.0/16"),
            resolver=resolver(
                {"dev.test": ["10.1.1.1"], "lan.test": ["192.168.3.3"], "localhost": ["127.0.0.1"]}
            ),
        )
        assert await guard.addresses("127.0.0.1", 80) == ["127.0.0.1"]
        assert await guard.addresses("dev.test", 80) == ["10.1.1.1"]
        assert await guard.addresses("lan.test", 80) == ["192.168.3.3"]
        with pytest.raises(Refused):  # same address, but neither the name nor a network is listed
            await guard.addresses("localhost", 80)
        with pytest.raises(Refused):
            await guard.addresses("127.0.0.2", 80)

    async def test_unresolvable_is_not_refused(self) -> None:
        guard = DestinationGuard(resolver=resolver({}))
        with pytest.raises(ResolutionFailed):
            await guard.addresses("nowhere.test", 80)

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("ftp://example.com/", "only http and https"),
            ("file:///etc/passwd", "only http and https"),
            ("http://", "no host"),
            ("http://u:p@example.com/", "credentials"),
            ("http://example.com:99999/", "invalid URL"),
        ],
    )
    def test_url_shapes(self, url: str, message: str) -> None:
        with pytest.raises(Refused, match=message):
            DestinationGuard().check_url(url)

    def test_production_requires_https(self) -> None:
        guard = DestinationGuard(require_https=True)
        with pytest.raises(Refused, match="https"):
            guard.check_url("http://example.com/")
        assert guard.check_url("https://example.com/x") == ("example.com", 443)


def sender(guard: DestinationGuard) -> Sender:
    return Sender(guard, timeout_secs=5, connect_timeout_secs=2, max_connections=4)


class TestTransport:
    """Real connections to a receiver on 127.0.0.1."""

    async def test_loopback_is_refused_unless_listed(self) -> None:
        with WebhookReceiver() as r:
            strict = sender(DestinationGuard())
            try:
                out = await strict.post(r.url(), b"{}", {})
            finally:
                await strict.aclose()
            assert out.refused and out.status_code is None and "non-public" in (out.error or "")
            assert r.received() == []
            listed = sender(DestinationGuard(AllowList.parse("127.0.0.1")))
            try:
                assert (await listed.post(r.url(), b"{}", {})).success
                refused = await listed.post(r.url(host="localhost"), b"{}", {})
            finally:
                await listed.aclose()
            assert refused.refused and len(r.received()) == 1

    async def test_connects_to_the_checked_address_and_keeps_the_host(self) -> None:
        """The name is resolved once, by the guard; the request still names the host."""
        calls: list[str] = []

        async def resolve(host: str, port: int) -> list[Any]:
            calls.append(host)
            return [ipaddress.ip_address("127.0.0.1")]

        with WebhookReceiver() as r:
            s = sender(DestinationGuard(AllowList.parse("127.0.0.0/8"), resolver=resolve))
            try:
                out = await s.post(f"http://hooks.example.test:{r.port}/in", b"{}", {})
            finally:
                await s.aclose()
            assert out.success
            [got] = r.received()
            assert got.headers["host"] == f"hooks.example.test:{r.port}"
            assert calls == ["hooks.example.test"]

    async def test_redirects_are_not_followed(self) -> None:
        with WebhookReceiver() as r:
            r.script("/hop", [Reply(302, {"Location": "http://169.254.169.254/"})])
            s = sender(DestinationGuard(AllowList.parse("127.0.0.1")))
            try:
                out = await s.post(r.url("/hop"), b"{}", {})
            finally:
                await s.aclose()
            assert out.status_code == 302 and not out.success and out.error == "HTTP 302"
            assert len(r.received()) == 1

    async def test_response_body_is_capped(self) -> None:
        with WebhookReceiver() as r:
            r.script("/big", [Reply(500, body=b"x" * 100_000)])
            s = sender(DestinationGuard(AllowList.parse("127.0.0.1")))
            try:
                out = await s.post(r.url("/big"), b"{}", {})
            finally:
                await s.aclose()
            assert out.response_body is not None and len(out.response_body) == 2048


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "017700000001", "127.1", "localhost"])
async def test_alternative_spellings_of_loopback_are_refused(host: str) -> None:
    """Numeric forms the C resolver accepts are resolved first, then judged."""
    with pytest.raises(Refused, match="non-public"):
        await DestinationGuard(AllowList.parse("127.0.0.1")).addresses(host, 80)


class TestDnsRebinding:
    """A name that answers an allowed address first and a forbidden one next (DNS
    rebinding) never gets a connection to the forbidden one: every connection resolves
    once and connects to exactly what it checked."""

    @staticmethod
    def rebinding(first: str, then: str) -> tuple[Any, list[str]]:
        answers = iter([first])
        calls: list[str] = []

        async def resolve(host: str, port: int) -> list[Any]:
            calls.append(host)
            return [ipaddress.ip_address(next(answers, then))]

        return resolve, calls

    async def test_check_passes_then_the_connection_is_refused(self) -> None:
        # 127.0.0.1 stands for "public" here (listed), 127.0.0.2 for the internal target.
        with WebhookReceiver() as r:
            resolve, calls = self.rebinding("127.0.0.1", "127.0.0.2")
            guard = DestinationGuard(AllowList.parse("127.0.0.1/32"), resolver=resolve)
            url = f"http://rebind.example.test:{r.port}/in"
            await guard.check(url)  # endpoint creation: resolves to the allowed address
            s = sender(guard)
            try:
                out = await s.post(url, b"{}", {})
            finally:
                await s.aclose()
            assert out.refused and "127.0.0.2" in (out.error or "")
            assert r.received() == [] and calls == ["rebind.example.test"] * 2

    async def test_the_checked_address_is_the_one_connected(self) -> None:
        """Allowed at connect time: the request goes to the pinned address, whatever the
        name would resolve to afterwards."""
        with WebhookReceiver() as r:
            resolve, calls = self.rebinding("127.0.0.1", "169.254.169.254")
            guard = DestinationGuard(AllowList.parse("127.0.0.1/32"), resolver=resolve)
            s = sender(guard)
            try:
                out = await s.post(f"http://rebind.example.test:{r.port}/in", b"{}", {})
            finally:
                await s.aclose()
            assert out.success and len(r.received()) == 1 and calls == ["rebind.example.test"]


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/",  # hexadecimal
        "http://017700000001/",  # octal
        "http://0177.0.0.1/",  # octal first octet
        "http://127.1/",  # short form
        "http://2852039166/latest/meta-data/",  # 169.254.169.254 in decimal
        "http://0xa9fea9fe/",  # 169.254.169.254 in hexadecimal
        "http://[::ffff:a9fe:a9fe]/",  # IPv4-mapped metadata, hex form
        "http://[0:0:0:0:0:ffff:7f00:1]/",  # IPv4-mapped loopback, long form
        "http://[fe80::1%25eth0]/",  # link-local with a zone
        "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
        "http://0.0.0.0/",
        "http://[::]/",
    ],
)
async def test_numeric_and_mapped_forms_are_refused_at_creation(url: str) -> None:
    guard = DestinationGuard(AllowList.parse("127.0.0.1"))
    with pytest.raises(Refused):
        await guard.check(url)
