"""The outbound-URL guard (issue 10, item 5): every SSRF form is refused, numeric spellings are
normalised first, names are resolved by an injected resolver (no DNS here) and every address is
checked, and the request is pinned to the checked address."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from ail_shared import netguard
from ail_shared.netguard import Policy, UrlRefused

DEV = Policy(require_https=False, allow_loopback=False)
DEV_LOOPBACK = Policy(require_https=False, allow_loopback=True)
PROD = Policy(require_https=True, allow_loopback=False)


def resolver_of(table: dict[str, list[str]]) -> netguard.Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(-2, "Name or service not known")
        return table[host]

    return resolve


PUBLIC = resolver_of(
    {
        "hooks.example.com": ["93.184.216.34"],
        "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
        "rebind.example.com": ["93.184.216.34", "127.0.0.1"],  # one bad answer is enough
        "meta.example.com": ["169.254.169.254"],
        "mapped.example.com": ["::ffff:10.0.0.1"],
        "localhost": ["127.0.0.1", "::1"],
    }
)

# (url, words the reason must contain)
SSRF_FORMS = [
    ("http://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("http://2130706433/hook", "is 127.0.0.1"),
    ("http://127.1/hook", "is 127.0.0.1"),
    ("http://0x7f.0.0.1/hook", "is 127.0.0.1"),
    ("http://0x7f000001/hook", "is 127.0.0.1"),
    ("http://0177.0.0.1/hook", "is 127.0.0.1"),
    ("http://017700000001/hook", "is 127.0.0.1"),
    ("http://127.000.000.001/hook", "is 127.0.0.1"),
    ("http://[::1]/hook", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/hook", "embedding 127.0.0.1 (IPv4-mapped)"),
    ("http://[::ffff:7f00:1]/hook", "embedding 127.0.0.1 (IPv4-mapped)"),
    ("http://[::127.0.0.1]/hook", "IPv4-compatible"),
    ("http://[2002:7f00:1::]/hook", "6to4"),
    ("http://[64:ff9b::a00:1]/hook", "NAT64"),
    ("http://[::ffff:8.8.8.8]/hook", "IPv4-mapped"),  # even a public one: no way round the rules
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata address"),
    ("http://2852039166/latest/meta-data/", "169.254.169.254 (169.254.169.254 is a cloud metadata"),
    ("http://[fd00:ec2::254]/latest/", "cloud metadata address"),
    ("http://100.100.100.200/", "cloud metadata address"),
    ("http://10.1.2.3/", "private address"),
    ("http://172.16.0.1/", "private address"),
    ("http://192.168.1.1/", "private address"),
    ("http://012.1.2.3/", "is 10.1.2.3"),
    ("http://[fd12:3456::1]/", "private address"),
    ("http://169.254.1.1/", "link-local address"),
    ("http://[fe80::1]/", "link-local address"),
    ("http://224.0.0.1/", "multicast address"),
    ("http://[ff02::1]/", "multicast address"),
    ("http://0.0.0.0/", "unspecified address"),
    ("http://0/", "is 0.0.0.0"),
    ("http://[::]/", "unspecified address"),
    ("http://240.0.0.1/", "240.0.0.1 is a"),
    ("http://100.64.0.1/", "not a public address"),
    ("http://localhost/", "localhost is a loopback name"),
    ("http://LOCALHOST./", "localhost is a loopback name"),
    ("http://ⓛocalhost/", "localhost is a loopback name"),  # IDNA maps it to what a resolver sees
    ("http://api.localhost/", "internal name (*.localhost)"),
    ("http://metadata.google.internal/", "internal name (*.internal)"),
    ("http://printer.local/", "internal name (*.local)"),
    ("http://billing.default.svc/", "internal name (*.svc)"),
    ("http://billing.default.svc.cluster.local/", "internal name (*.cluster.local)"),
    ("http://intranet/", "internal name"),
    ("http://status/", "single-label name"),
    ("http://rebind.example.com/", "rebind.example.com resolves to 127.0.0.1"),
    ("http://meta.example.com/", "resolves to 169.254.169.254"),
    ("http://mapped.example.com/", "IPv4-mapped"),
    ("http://nowhere.example.com/", "could not be resolved"),
    ("http://999.1.1.1/", "out of the IPv4 range"),
    ("http://1.2.3.4.5/", "neither a valid name nor an IPv4 address"),
    ("http://08.1.1.1/", "invalid octal part"),
    ("http://[fe80::1%25eth0]/", "zone index"),
]


@pytest.mark.parametrize(("url", "reason"), SSRF_FORMS)
async def test_every_ssrf_form_is_refused_with_its_reason(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        await netguard.check(url, DEV, PUBLIC)
    assert reason in refused.value.reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (u, r)
        for u, r in SSRF_FORMS
        if u.split("/")[2] not in ("127.0.0.1", "[::1]", "localhost", "LOCALHOST.", "ⓛocalhost")
        and "rebind" not in u
    ],
)
async def test_allowing_loopback_allows_plain_loopback_only(url: str, reason: str) -> None:
    """With the development setting on, only canonical loopback passes: numeric spellings,
    mapped forms, private and metadata addresses are still refused."""
    with pytest.raises(UrlRefused) as refused:
        await netguard.check(url, DEV_LOOPBACK, PUBLIC)
    assert reason in refused.value.reason


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://[::1]:9/x", "http://localhost:8080/"])
async def test_loopback_needs_the_setting(url: str) -> None:
    checked = await netguard.check(url, DEV_LOOPBACK, PUBLIC)
    assert all(a.is_loopback for a in checked.addresses)
    with pytest.raises(UrlRefused, match="loopback"):
        await netguard.check(url, DEV, PUBLIC)


async def test_public_names_and_addresses_pass_and_https_is_required_outside_development() -> None:
    checked = await netguard.check("https://hooks.example.com/ail?x=1", PROD, PUBLIC)
    assert checked.addresses == (ipaddress.ip_address("93.184.216.34"),) and checked.port == 443
    assert (await netguard.check("https://v6.example.com:8443/", PROD, PUBLIC)).port == 8443
    assert (await netguard.check("http://8.8.8.8/", DEV, PUBLIC)).host == "8.8.8.8"
    with pytest.raises(UrlRefused, match=r"must be an https:// URL"):
        await netguard.check("http://hooks.example.com/", PROD, PUBLIC)


async def test_all_syntax_problems_at_once() -> None:
    with pytest.raises(UrlRefused) as refused:
        await netguard.check("ftp://user:pw@hooks.example.com:0/x#frag", DEV, PUBLIC)
    assert len(refused.value.reasons) == 4  # scheme, credentials, fragment, port 0


async def test_resolution_is_bounded_in_time() -> None:
    async def never(host: str, port: int) -> list[str]:
        import asyncio

        await asyncio.sleep(60)
        return []

    with pytest.raises(UrlRefused, match="in time"):
        await netguard.check("https://slow.example.com/", Policy(resolve_timeout_seconds=0.05), never)


async def test_pinned_request_keeps_the_name_for_host_and_tls() -> None:
    checked = await netguard.check("https://hooks.example.com:8443/ail?x=1", PROD, PUBLIC)
    url, headers, ext = netguard.pinned_request_args(checked, checked.addresses[0])
    assert url == "https://93.184.216.34:8443/ail?x=1"
    assert headers == {"host": "hooks.example.com:8443"} and ext == {"sni_hostname": "hooks.example.com"}
    checked = await netguard.check("https://v6.example.com/", PROD, PUBLIC)
    url, headers, ext = netguard.pinned_request_args(checked, checked.addresses[0])
    assert url == "https://[2606:2800:220:1:248:1893:25c8:1946]/" and headers == {"host": "v6.example.com"}


def test_normalise_ipv4_follows_inet_aton() -> None:
    import socket

    for form in ("2130706433", "127.1", "0x7f.0.0.1", "0177.0.0.1", "017700000001", "127.0.1", "1.2.3.4"):
        assert netguard.normalise_ipv4(form) == ipaddress.IPv4Address(socket.inet_aton(form))
    assert netguard.normalise_ipv4("hooks.example.com") is None


async def test_hosts_file_resolver_asks_no_dns(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost loopy.example # comment\n::1 localhost ip6-localhost\n")
    resolve = netguard.hosts_file_resolver(str(hosts))
    assert await resolve("localhost", 80) == ["127.0.0.1", "::1"]
    assert await resolve("loopy.example", 80) == ["127.0.0.1"]
    with pytest.raises(OSError, match="not in the hosts file"):
        await resolve("hooks.example.com", 443)
    with pytest.raises(UrlRefused, match="could not be resolved"):
        await netguard.check("http://hooks.example.com/", DEV, resolve)
