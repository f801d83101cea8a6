"""Identifiers the simulated VirusTotal has handed out, so that they resolve back.

A synthetic file is described under the hash it was first asked by, with its
two other hashes derived from that one; asking later by one of those must reach
the same file, as it would on VirusTotal. Likewise a URL the simulator has met
in full can later be asked for by its sha256 (a v2 scan id or a v3 id).
The catalogue only grows; it is kept for the life of the process, like
VirusTotal's own database, and ``reset`` leaves it alone.
"""

from __future__ import annotations

from .dataset import EXAMPLES, FileIdentity, file_identity
from .indicators import url_sha256


class Catalogue:
    """Thread-safe without a lock: single dict operations are atomic in CPython."""

    def __init__(self) -> None:
        self._files: dict[str, str] = {}  # derived hash -> the hash the file was made from
        self._urls = {url_sha256(url): url for url in EXAMPLES["url"].values()}

    def file(self, file_hash: str) -> FileIdentity:
        """The file a lower-case md5, sha1 or sha256 names."""
        origin = self._files.get(file_hash, file_hash)
        identity = file_identity(origin)
        for alias in identity:
            self._files.setdefault(alias, origin)
        return identity

    def remember_url(self, url: str) -> None:
        self._urls.setdefault(url_sha256(url), url)

    def url(self, sha256: str) -> str | None:
        """The canonical URL with this sha256, if the simulator has met it."""
        return self._urls.get(sha256)
