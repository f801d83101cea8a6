"""Recognise and canonicalise what clients ask VirusTotal about.

VirusTotal answers for a canonical form of each indicator (lower-case hashes,
domains without a trailing dot, URLs with a lower-case scheme and host and an
explicit path), so the simulator keys its dataset on the same forms. Every
function returns ``None`` for input that real VirusTotal would reject.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

HASH_KINDS = {32: "md5", 40: "sha1", 64: "sha256"}
_HEX = re.compile(r"[0-9a-f]+")
_SCAN_ID = re.compile(r"([0-9a-f]{64})-[0-9]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_URL_SCHEMES = ("http", "https")


def hash_kind(text: str) -> str | None:
    """``"md5"``, ``"sha1"`` or ``"sha256"`` for a hex digest of that length."""
    text = text.lower()
    return HASH_KINDS.get(len(text)) if _HEX.fullmatch(text) else None


def scan_id_sha256(text: str) -> str | None:
    """The sha256 inside a v2 scan id (``<sha256>-<unix time>``)."""
    match = _SCAN_ID.fullmatch(text.lower())
    return match.group(1) if match else None


def file_lookup_hash(resource: str) -> str | None:
    """The hash a v2 file resource (md5, sha1, sha256 or scan id) names."""
    resource = resource.strip().lower()
    return resource if hash_kind(resource) else scan_id_sha256(resource)


def canonical_domain(text: str) -> str | None:
    """Lower-case, punycode, no trailing dot; at least two labels, a non-numeric TLD."""
    text = text.strip().rstrip(".")
    try:
        text = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = text.split(".")
    if len(text) > 253 or len(labels) < 2 or labels[-1].isdigit():
        return None
    return text if all(_LABEL.fullmatch(label) for label in labels) else None


def canonical_ip(text: str, *, v4_only: bool = False) -> str | None:
    """The compressed textual form of an IP address (IPv4 only for API v2)."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if v4_only and address.version != 4:
        return None
    return str(address)


def is_public_ip(ip: str) -> bool:
    """Whether VirusTotal could have seen the address on the internet."""
    return ipaddress.ip_address(ip).is_global


def canonical_url(text: str) -> str | None:
    """http(s) URL with lower-case scheme and host, no fragment, ``/`` for an empty path.

    A URL without a scheme is taken as ``http://``, as VirusTotal does.
    """
    text = text.strip()
    if not text or any(character.isspace() for character in text):
        return None
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme.lower() not in _URL_SCHEMES:
        return None
    if canonical_ip(host):
        host = canonical_ip(host)
        host = f"[{host}]" if ":" in host else host
    else:
        host = canonical_domain(host)
        if host is None:
            return None
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def url_sha256(url: str) -> str:
    """VirusTotal's URL identifier: sha256 of the canonical URL."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def url_base64_id(url: str) -> str:
    """The other v3 URL identifier: unpadded base64url of the URL."""
    return base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def v3_url_id(identifier: str) -> tuple[str, str | None] | None:
    """``(sha256, canonical URL or None)`` for a v3 URL id, in either form.

    A sha256 id does not carry the URL; a base64 id does.
    """
    if hash_kind(identifier) == "sha256":
        return identifier.lower(), None
    try:
        padded = identifier + "=" * (-len(identifier) % 4)
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    url = canonical_url(decoded)
    return (url_sha256(url), url) if url else None
