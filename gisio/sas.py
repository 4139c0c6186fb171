"""Microsoft Planetary Computer's storage: hrefs signed with SAS tokens from its token endpoint (GDAL and the
standard library only, so that worker processes sign their own reads), each token renewed before it expires.

Planetary Computer's items point at ``https://<account>.blob.core.windows.net/<container>/…``, readable only with
a SAS token: ``GET <token endpoint>/<account>/<container>`` answers ``{"token": "st=…&sig=…", "msft:expiry":
"2024-05-01T12:00:00Z"}``, and the token is appended to the href as its query.
"""
import datetime
import json
import re
import time
import urllib.parse
import urllib.request

#: Planetary Computer's SAS token endpoint, and the host suffix of the storage it signs.
TOKEN_URL = "https://planetarycomputer.microsoft.com/api/sas/v1/token"
STORAGE_HOST_SUFFIX = ".blob.core.windows.net"
#: Azure's storage hosts: <account> + this suffix.
AZURE_BLOB_SUFFIX = ".blob.core.windows.net"
#: A token is renewed when it has less than this many seconds left (a read of hours outlives several).
RENEW_SECONDS = 300
#: Seconds the token endpoint may take.
TOKEN_TIMEOUT = 30


class SasError(RuntimeError):
    """The token endpoint gave no usable token (the message names it)."""


class SasSigner:
    """Signs ``/vsicurl/`` paths of storage whose host ends with ``host_suffix`` with tokens from ``token_url``
    (defaults: :data:`STORAGE_HOST_SUFFIX`, :data:`TOKEN_URL`), through ``proxy`` (a GDAL_HTTP_PROXY value) when
    given. Pickled without its tokens: each process asks for its own."""

    def __init__(self, token_url=None, host_suffix=None, proxy=None):
        self.token_url = (token_url or TOKEN_URL).rstrip("/")
        self.host_suffix, self.proxy = host_suffix or STORAGE_HOST_SUFFIX, proxy
        self.tokens = {}
        self.asked = 0

    def __getstate__(self):
        return dict(self.__dict__, tokens={}, asked=0)

    def signs(self, path):
        """True when ``path`` is on the storage this signer signs."""
        return self._container(path) is not None

    def sign(self, path):
        """``path`` with a valid token as its query, or ``path`` itself when it is not on that storage."""
        container = self._container(path)
        if container is None:
            return path
        return path + ("&" if "?" in path else "?") + self.token(*container)

    def _container(self, path):
        """(account, container) of a ``/vsicurl/`` path on the storage, or None."""
        if not path.startswith("/vsicurl/"):
            return None
        parts = urllib.parse.urlsplit(path[len("/vsicurl/"):])
        host = parts.hostname or ""
        if not host.endswith(self.host_suffix.lstrip(".")) or not parts.path.strip("/"):
            return None
        account = host[:-len(AZURE_BLOB_SUFFIX)] if host.endswith(AZURE_BLOB_SUFFIX) else host
        return account, parts.path.strip("/").split("/")[0]

    def token(self, account, container):
        """The token of ``account``/``container``, asked anew when it has less than :data:`RENEW_SECONDS` left."""
        token, expiry = self.tokens.get((account, container), (None, 0.0))
        if token is None or expiry - time.time() < RENEW_SECONDS:
            token, expiry = self._ask(account, container)
            self.tokens[(account, container)] = (token, expiry)
        return token

    def _ask(self, account, container):
        url = "%s/%s/%s" % (self.token_url, account, container)
        handlers = [urllib.request.ProxyHandler({"http": self.proxy, "https": self.proxy})] if self.proxy else []
        self.asked += 1
        try:
            with urllib.request.build_opener(*handlers).open(url, timeout=TOKEN_TIMEOUT) as answer:
                body = json.loads(answer.read().decode("utf-8"))
        except (OSError, ValueError) as error:
            raise SasError("the SAS token endpoint %s gave no token: %s" % (url, error)) from error
        token, expiry = (body.get("token"), body.get("msft:expiry")) if isinstance(body, dict) else (None, None)
        if not isinstance(token, str) or not token:
            raise SasError("the SAS token endpoint %s answered no token" % url)
        return token.lstrip("?"), expiry_time(expiry)


def expiry_time(text):
    """Seconds since the epoch of an ISO 8601 expiry (``…Z``); an unreadable one is taken as expired in
    :data:`RENEW_SECONDS` × 2 (asked again soon)."""
    try:
        moment = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return time.time() + 2 * RENEW_SECONDS
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def without_tokens(text):
    """``text`` (a GDAL error naming a signed URL) with the SAS token of every URL replaced by ``<token>``."""
    return re.sub(r"\?[^\s'\"`:]*sig=[^\s'\"`:]*", "?<token>", text)
