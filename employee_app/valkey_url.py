"""VALKEY_URL read once, and the app's Valkey clients built from it.

A plain URL (valkey://, valkeys://, redis://, rediss://, unix://) goes to the
library's from_url, as before. A Sentinel URL names the Sentinels and the
service they watch; the client then asks a Sentinel where the primary is, and
asks again after a failover:

    valkey+sentinel://[[user]:password@]host1[:26379][,host2[:26379]...]/service-name[/db][?sentinel_password=...]

(also redis+sentinel://). The spelling is the redis+sentinel:// one of
Redis-Sentinel-Url, LangChain, RedisVL and Prefect: the user and password are
the primary's, a missing port is Sentinel's 26379, db defaults to 0, and
sentinel_username / sentinel_password authenticate to the Sentinels.

A URL that cannot work stops the start with ValkeyUrlError, whose message
names the fault but never repeats the URL (it may hold a password).
"""
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

PLAIN_SCHEMES = ("valkey", "valkeys", "redis", "rediss", "unix")
SENTINEL_SCHEMES = ("valkey+sentinel", "redis+sentinel")
SENTINEL_PORT = 26379
SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
# A host name or an IPv4 address; IPv6 goes in brackets, as in any URL.
HOST_RE = re.compile(r"[A-Za-z0-9._-]+")
FORMS = ("valkey://host:6379/0, or valkey+sentinel://[:password@]host1:26379,host2:26379/service-name/0 "
         "for a primary watched by Sentinel")


class ValkeyUrlError(RuntimeError):
    def __init__(self, fault: str):
        super().__init__(f"VALKEY_URL is not usable: {fault}. Expected {FORMS}.")


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None


def parse(url: str) -> str | SentinelTarget:
    """The plain URL unchanged, or the SentinelTarget a Sentinel URL names."""
    if not url or _has_control_characters(url):
        raise ValkeyUrlError("it is empty or holds control characters (a NUL byte, a line break)")
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    schemes = PLAIN_SCHEMES + SENTINEL_SCHEMES
    if not separator or scheme not in schemes:
        raise ValkeyUrlError("its scheme is not one of " + ", ".join(name + "://" for name in schemes))
    if scheme in PLAIN_SCHEMES:
        _check_plain(url, scheme)
        return url
    return _sentinel_target(rest)


def _has_control_characters(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def checked(url: str) -> str:
    """url itself, once parse() found it usable (config.py, at the start)."""
    parse(url)
    return url


def _check_plain(url: str, scheme: str) -> None:
    if scheme == "unix":
        return
    try:
        urlsplit(url).port  # noqa: B018  (raises on a port that is not a number from 0 to 65535)
    except ValueError:
        raise ValkeyUrlError("its host or port cannot be read") from None


def _sentinel_target(rest: str) -> SentinelTarget:
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username, password = unquote(user) or None, (unquote(secret) if colon else None) or None
    sentinels = tuple(_sentinel_address(address) for address in hosts.split(","))
    service, _, db = path.partition("/")
    service = unquote(service)
    if _has_control_characters(service):
        raise ValkeyUrlError("its service name holds control characters (%00, %0A)")
    if not service.strip():
        raise ValkeyUrlError("it names no service: put the name the Sentinels monitor after the hosts (/mymaster)")
    if db and not db.isdigit():
        raise ValkeyUrlError("its database number is not a number")
    options = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(options) - set(SENTINEL_OPTIONS))
    if unknown:
        raise ValkeyUrlError(f"it has options this app does not read ({', '.join(unknown)}); "
                             f"a Sentinel URL takes {' and '.join(SENTINEL_OPTIONS)}")
    return SentinelTarget(sentinels, service, int(db or 0), username, password,
                          *(options.get(name, [None])[-1] or None for name in SENTINEL_OPTIONS))


def _sentinel_address(address: str) -> tuple[str, int]:
    if address.startswith("["):
        host, bracket, port = address[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            raise ValkeyUrlError("a Sentinel's IPv6 address is not closed by ]")
        port = port[1:]
    else:
        host, _, port = address.partition(":")
        if not HOST_RE.fullmatch(host or "-!"):
            raise ValkeyUrlError("it names no Sentinel host, or one that is not a host name or address")
    if not host:
        raise ValkeyUrlError("it names no Sentinel host")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValkeyUrlError("a Sentinel's port is not a number from 1 to 65535")
    return host, int(port or SENTINEL_PORT)


def valkey_client(url: str, **options):
    """A valkey-py client (the duplicate guard's) for VALKEY_URL."""
    import valkey
    import valkey.sentinel

    return _client(url, valkey.Valkey, valkey.sentinel, url, options)


def redis_client(url: str, **options):
    """A redis-py client (RQ's) for VALKEY_URL: redis-py reads valkey:// and
    valkeys:// as redis:// and rediss://."""
    import redis
    import redis.sentinel

    scheme, _, rest = url.partition("://")
    plain = {"valkey": "redis", "valkeys": "rediss"}.get(scheme.lower(), scheme) + "://" + rest
    return _client(url, redis.Redis, redis.sentinel, plain, options)


def _client(url: str, client_class, sentinel_module, plain_url: str, options: dict):
    target = parse(url)
    if not isinstance(target, SentinelTarget):
        return client_class.from_url(plain_url, **options)
    # The Sentinels are asked with the same timeouts as the primary, so that
    # a hung Sentinel costs no more than a hung Valkey.
    sentinel_options = {name: options[name] for name in ("socket_timeout", "socket_connect_timeout") if name in options}
    if target.sentinel_username:
        sentinel_options["username"] = target.sentinel_username
    if target.sentinel_password:
        sentinel_options["password"] = target.sentinel_password
    sentinel = sentinel_module.Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_options)
    # master_for's client class is the library's own (Valkey, Redis) by default.
    return sentinel.master_for(target.service, db=target.db, username=target.username, password=target.password,
                               connection_class=_dropped_when_interrupted(sentinel_module.SentinelManagedConnection),
                               **options)


def _dropped_when_interrupted(managed_connection):
    """The library's Sentinel connection, closed when a read is interrupted,
    as its plain connections are. Its read_response keeps the connection by
    default, so the pool hands the next command the reply of the interrupted
    one: RQ's warm shutdown interrupts a BLPOP, and the worker then hung on
    its last write (redis-py pull request #4292; valkey-py has the same code).
    PubSub passes its own value and is unaffected."""
    class Connection(managed_connection):
        def read_response(self, *args, disconnect_on_error=True, **kwargs):
            return super().read_response(*args, disconnect_on_error=disconnect_on_error, **kwargs)
    return Connection
