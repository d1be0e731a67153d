"""The outbound-URL guard: may the platform send a request to this URL, and to which address.

Callers: the status service, when a webhook subscription is made (``POST /api/v1/subscriptions``)
and before every delivery attempt (``ail_status.adapters.webhook_client``). Every URL a user
chooses and the platform then calls goes through :func:`check`; nothing else decides it.

What is refused (the reason names the rule):

* anything but ``https://`` outside development (``http://`` too in development);
* user info, a fragment, port 0, a host that is not a valid name or address;
* internal names: ``localhost``, ``*.localhost``, ``*.internal``, ``*.local``, ``*.localdomain``,
  ``*.lan``, ``*.home.arpa``, ``*.svc``, ``*.cluster.local``, and single-label names (they
  resolve through search domains to internal hosts);
* numeric hosts in any spelling the resolver accepts (``2130706433``, ``127.1``, ``0x7f.0.0.1``,
  ``0177.0.0.1``, ``017700000001``): they are normalised first and then checked like
  ``a.b.c.d``; a non-canonical spelling is refused even for a public address, because
  resolvers, proxies and parsers disagree about it;
* every address that is not public: cloud metadata (``169.254.169.254``, ``fd00:ec2::254``,
  ``100.100.100.200``, ...), loopback, private, link-local, multicast, unspecified, reserved,
  shared (100.64/10), and IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
  IPv4-compatible ``::a.b.c.d``, 6to4, Teredo, NAT64) are judged by the embedded address;
* a name if *any* of its resolved addresses is refused (an attacker controls their DNS).

Loopback (127/8, ::1, ``localhost``) is allowed only when the caller's policy says so; the
status service allows it only in development with ``AIL_WEBHOOK_ALLOW_LOOPBACK=true``.

:func:`check` returns the addresses it checked. The caller must connect to one of them, not
resolve the name again (DNS rebinding: a name that answered a public address at check time
may answer 127.0.0.1 a second later). :func:`pinned_request_args` gives the URL with the
address, the ``Host`` header and the TLS server name (SNI, certificate check) of the name.

The resolver is injected (:data:`Resolver`), so tests need no DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "CheckedUrl",
    "Policy",
    "Resolver",
    "UrlRefused",
    "address_problem",
    "check",
    "hosts_file_resolver",
    "name_problem",
    "normalise_ipv4",
    "pinned_request_args",
    "system_resolver",
]

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses (as text) the name resolves to
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Instance metadata services of the clouds; refused with their own reason, before the generic
# link-local / private rules would catch most of them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS DNS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
INTERNAL_SUFFIXES = (
    ".localhost",
    ".internal",
    ".local",
    ".localdomain",
    ".lan",
    ".intranet",
    ".corp",
    ".home",
    ".home.arpa",
    ".svc",
    ".cluster.local",
    ".in-addr.arpa",
    ".ip6.arpa",
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class UrlRefused(ValueError):
    """The URL may not be called; ``reasons`` say why in words a user can act on (every
    problem found, not only the first)."""

    def __init__(self, *reasons: str) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Policy:
    require_https: bool = True
    allow_loopback: bool = False
    resolve_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class CheckedUrl:
    url: str  # as given
    scheme: str
    host: str  # the name (lower case, no trailing dot) or the canonical address
    port: int
    addresses: tuple[IPAddress, ...]  # every address it resolved to, all allowed

    @property
    def is_name(self) -> bool:
        return not _is_ip_literal(self.host)


def normalise_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a resolver would read in ``host`` (inet_aton rules: 1 to 4 parts, each
    decimal, ``0x`` hex or ``0`` octal, the last filling the remaining bytes), or None if
    ``host`` is not numeric. Raises UrlRefused for a numeric host that is not an address."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts = parts[:-1]  # "127.0.0.1." is the same host
    if not parts or not _NUMERIC_PART.match(parts[-1]):
        return None  # a name: the last label is not a number (WHATWG's rule)
    if len(parts) > 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        raise UrlRefused(f"host {host!r} is neither a valid name nor an IPv4 address")
    values = []
    for p in parts:
        if p.startswith("0x"):
            values.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p.startswith("0"):
            if not set(p) <= set("01234567"):
                raise UrlRefused(f"host {host!r} has an invalid octal part {p!r}")
            values.append(int(p, 8))
        else:
            values.append(int(p))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise UrlRefused(f"host {host!r} is out of the IPv4 range")
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d (not :: or ::1)
        return "IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    if ip in NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why the platform must not connect to ``ip`` (None: it may)."""
    if ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return f"{ip} has a zone index"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            kind, v4 = embedded
            inner = address_problem(v4, allow_loopback=False)
            # An embedded address is never allowed: even a public one is a way round the rules
            # (and no receiver needs it).
            return f"{ip} is an IPv6 address embedding {v4} ({kind})" + (f": {inner}" if inner else "")
    if ip.is_loopback:
        return None if allow_loopback else f"{ip} is a loopback address"
    if ip.is_unspecified:
        return f"{ip} is the unspecified address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_private:
        return f"{ip} is a private address"
    if ip.is_reserved:
        return f"{ip} is a reserved address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def name_problem(name: str, *, allow_loopback: bool = False) -> str | None:
    """Why a host name is internal or invalid (None: it may be resolved and checked)."""
    if name == "localhost":
        return None if allow_loopback else "localhost is a loopback name"
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        return f"host {name!r} is not a valid host name"
    for suffix in sorted(INTERNAL_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) or name == suffix[1:]:
            return f"{name} is an internal name (*{suffix})"
    if "." not in name:
        return f"{name} is a single-label name (resolved through internal search domains)"
    return None


def _parse(url: str, policy: Policy) -> tuple[str, str, int, IPAddress | None]:
    """Syntax and name rules: (scheme, host, port, address if the host is numeric)."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UrlRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"is not a valid URL: {exc}") from exc
    problems: list[str] = []
    scheme = parts.scheme.lower()
    allowed = ("https",) if policy.require_https else ("http", "https")
    if scheme not in allowed:
        problems.append(
            "must be an https:// URL" if policy.require_https else "must be an http:// or https:// URL"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        problems.append("must not carry a user name or password; authenticate by the signature")
    if parts.fragment:
        problems.append("must not have a #fragment")
    if port == 0:
        problems.append("has port 0")
    raw_host = parts.hostname or ""
    if not raw_host:
        problems.append("has no host")
        raise UrlRefused(*problems)
    port = port or (443 if scheme == "https" else 80)
    host, literal = "", None
    try:
        host, literal = _host(parts.netloc.rsplit("@", 1)[-1].startswith("["), raw_host, policy)
    except UrlRefused as exc:
        problems += exc.reasons
    if problems:
        raise UrlRefused(*problems)
    return scheme, host, port, literal


def _host(bracketed: bool, raw_host: str, policy: Policy) -> tuple[str, IPAddress | None]:
    if bracketed:
        try:
            v6 = ipaddress.IPv6Address(raw_host)
        except ValueError as exc:
            raise UrlRefused(f"host [{raw_host}] is not a valid IPv6 address") from exc
        return str(v6), v6
    try:
        # IDNA also maps look-alikes (fullwidth digits, circled letters) to what a resolver sees
        host = raw_host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError as exc:
        raise UrlRefused(f"host {raw_host!r} is not a valid host name") from exc
    v4 = normalise_ipv4(host)
    if v4 is not None:
        if host != str(v4):
            problem = address_problem(v4, allow_loopback=False)
            raise UrlRefused(
                f"host {raw_host!r} is {v4}"
                + (f" ({problem})" if problem else "")
                + "; write an IPv4 address as four decimal numbers a.b.c.d"
            )
        return host, v4
    problem = name_problem(host, allow_loopback=policy.allow_loopback)
    if problem:
        raise UrlRefused(problem)
    return host, None


async def check(url: str, policy: Policy, resolver: Resolver) -> CheckedUrl:
    """Parse, resolve and check ``url``; raise UrlRefused with the reason. The returned
    addresses are the only ones the caller may connect to."""
    scheme, host, port, literal = _parse(url, policy)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            answers = await asyncio.wait_for(resolver(host, port), policy.resolve_timeout_seconds)
        except TimeoutError as exc:
            raise UrlRefused(f"{host} could not be resolved in time") from exc
        except OSError as exc:
            raise UrlRefused(f"{host} could not be resolved: {exc.strerror or exc}") from exc
        addresses = []
        for a in answers:
            try:
                addresses.append(ipaddress.ip_address(a))
            except ValueError as exc:
                raise UrlRefused(f"{host} resolved to {a!r}, not an address") from exc
        if not addresses:
            raise UrlRefused(f"{host} resolves to no address")
    for ip in addresses:
        problem = address_problem(ip, allow_loopback=policy.allow_loopback)
        if problem:
            raise UrlRefused(problem if literal is not None else f"{host} resolves to {ip}: {problem}")
    return CheckedUrl(url=url, scheme=scheme, host=host, port=port, addresses=tuple(dict.fromkeys(addresses)))


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (getaddrinfo), every address of ``host``."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def hosts_file_resolver(path: str = "/etc/hosts") -> Resolver:
    """A resolver that asks no DNS server: only the names of the hosts file (the local stack
    uses it, so that tests and fuzzers sending random webhook URLs cause no traffic beyond the
    machine). A name not in the file is not resolved."""

    async def resolve(host: str, port: int) -> list[str]:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise OSError(exc.errno, f"hosts file {path} unreadable") from exc
        found = [
            fields[0]
            for fields in (line.split("#", 1)[0].split() for line in lines)
            if len(fields) > 1 and host in (n.lower().rstrip(".") for n in fields[1:])
        ]
        if not found:
            raise OSError(-2, "not in the hosts file (DNS is off here: AIL_WEBHOOK_DNS=false)")
        return found

    return resolve


def pinned_request_args(
    checked: CheckedUrl, address: IPAddress
) -> tuple[str, dict[str, str], dict[str, str]]:
    """(URL with ``address`` as its host, extra headers, httpx request extensions) that connect
    to the checked address while the server still sees the name: ``Host`` header and TLS SNI
    and certificate check of the name (httpcore's ``sni_hostname`` extension)."""
    parts = urlsplit(checked.url)
    netloc_host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    default = 443 if checked.scheme == "https" else 80
    netloc = netloc_host if checked.port == default else f"{netloc_host}:{checked.port}"
    url = urlunsplit((checked.scheme, netloc, parts.path or "/", parts.query, ""))
    if checked.is_name or ":" not in checked.host:
        host_header = checked.host
    else:
        host_header = f"[{checked.host}]"
    if checked.port != default:
        host_header = f"{host_header}:{checked.port}"
    extensions = {"sni_hostname": checked.host} if checked.is_name and checked.scheme == "https" else {}
    return url, {"host": host_header}, extensions
