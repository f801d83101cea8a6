"""Indicator normalisation, validation, internal detection and type guessing."""

import base64
import string

import pytest

from dxlvtservice.core.indicators import (
    MAX_URL_LENGTH,
    Indicator,
    IndicatorType,
    detect_type,
    hash_kind,
    is_internal,
    is_ipv6,
    is_scan_id,
    normalize,
    url_host,
    v3_url_id,
)
from dxlvtservice.errors import BAD_REQUEST, ServiceError

FILE, URL, DOMAIN, IP = IndicatorType
MD5 = "44D88612FEA8A8F36DE82E1278ABB02F"
SHA1 = "3395856CE81F2B7382DEE72602F798B642F14140"
SHA256 = "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F"


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        (FILE, MD5, MD5.lower()),
        (FILE, SHA1, SHA1.lower()),
        (FILE, f"  {SHA256}\n", SHA256.lower()),
        (DOMAIN, "Example.COM.", "example.com"),
        (DOMAIN, " www.example.co.uk ", "www.example.co.uk"),
        (DOMAIN, "bücher.de", "xn--bcher-kva.de"),
        (DOMAIN, "BÜCHER.DE", "xn--bcher-kva.de"),
        (DOMAIN, "xn--bcher-kva.de", "xn--bcher-kva.de"),
        (DOMAIN, "my_host.example.com", "my_host.example.com"),
        (DOMAIN, "a-b.example.xn--p1ai", "a-b.example.xn--p1ai"),
        (DOMAIN, "localhost", "localhost"),
        (IP, "8.8.8.8", "8.8.8.8"),
        (IP, " 8.8.4.4 ", "8.8.4.4"),
        (IP, "2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        (IP, "2001:0db8::0001", "2001:db8::1"),
        (IP, "::FFFF:8.8.8.8", "8.8.8.8"),
        (URL, "HTTP://Example.COM", "http://example.com/"),
        (URL, "https://example.com:443/a?b=C#frag", "https://example.com/a?b=C"),
        (URL, "http://example.com:80/", "http://example.com/"),
        (URL, "https://example.com:80/", "https://example.com:80/"),
        (URL, "http://example.com:8080/A/B/../c%20d", "http://example.com:8080/A/c%20d"),
        # As browsers read them (WHATWG): backslashes end the host, numbers are IPv4.
        (URL, "http://wiki.example\\@evil.example.com/", "http://wiki.example/@evil.example.com/"),
        (URL, "https://evil.example.com\\path\\x", "https://evil.example.com/path/x"),
        (URL, "http://0x7f.1/", "http://127.0.0.1/"),
        (URL, "http://1.2.3/", "http://1.2.0.3/"),
        (URL, "http://a%2Eexample.com/", "http://a.example.com/"),
        (URL, "http://[::ffff:8.8.8.8]/", "http://8.8.8.8/"),
        (URL, "http://WIKI.Example.COM./x#top", "http://wiki.example.com/x"),
        (URL, "http://bücher.de/Pfad", "http://xn--bcher-kva.de/Pfad"),
        (URL, "http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        (URL, "http://[2001:db8::1]:8080", "http://[2001:db8::1]:8080/"),
        (URL, "http://user:Pass@Example.com/", "http://user:Pass@example.com/"),
        (URL, "http://8.8.8.8", "http://8.8.8.8/"),
        (URL, "  https://example.com/?q=1&r=2  ", "https://example.com/?q=1&r=2"),
        (URL, "http://localhost:8000/x", "http://localhost:8000/x"),
        (URL, "example.com/path", "http://example.com/path"),
        (URL, "Example.com:8080/a?b", "http://example.com:8080/a?b"),
        (URL, "8.8.8.8/x", "http://8.8.8.8/x"),
        (URL, "FTP://ftp.Example.com:21/pub/f.txt", "ftp://ftp.example.com/pub/f.txt"),
        (URL, "ftp://ftp.example.com:2121/", "ftp://ftp.example.com:2121/"),
    ],
)
def test_normalize(type_, raw, expected):
    assert normalize(type_, raw) == expected
    assert normalize(type_.value, raw) == expected
    assert normalize(type_, expected) == expected  # canonical forms are fixed points


@pytest.mark.parametrize(
    ("type_", "raw"),
    [
        (FILE, ""),
        (FILE, MD5[:-1]),
        (FILE, SHA256 + "0"),
        (FILE, "g" * 32),
        (FILE, f"{MD5[:16]} {MD5[16:]}"),
        (DOMAIN, ""),
        (DOMAIN, "com"),
        (DOMAIN, "intranet"),
        (DOMAIN, "-a.example.com"),
        (DOMAIN, "a-.example.com"),
        (DOMAIN, "a..example.com"),
        (DOMAIN, "*.example.com"),
        (DOMAIN, "1.2.3.4"),
        (DOMAIN, "example.c0m"),
        (DOMAIN, "a" * 64 + ".com"),
        (DOMAIN, ("a" * 60 + ".") * 5 + "com"),
        (DOMAIN, "http://example.com/"),
        (DOMAIN, "exa mple.com"),
        (DOMAIN, "a\u200db.com"),
        (IP, ""),
        (IP, "1.2.3"),
        (IP, "256.1.1.1"),
        (IP, "010.0.0.1"),
        (IP, "1.2.3.4/24"),
        (IP, "2001:db8:::1"),
        (IP, "example.com"),
        (URL, ""),
        (URL, "javascript:alert(1)"),
        (URL, "mailto:someone@example.com"),
        (URL, "file:///etc/passwd"),
        (URL, "example/path"),
        (URL, "http://"),
        (URL, "http:///path"),
        (URL, "http://exa mple.com/"),
        (URL, "http://example.com/a\nb"),
        (URL, "http://example.com:99999/"),
        (URL, "http://example.com:port/"),
        (URL, "http://[::1/"),
        (URL, "http://intranet/"),
        (IP, "fe80::1%eth0"),
        (IP, "2606:4700::1%25?a=b#c"),
        (IP, "fe80::1%1"),
        (URL, "http://[fe80::1%25eth0]/"),
        (URL, "http://[2606:4700::1%25?a=b#c]/"),
        (URL, "http://exa%20mple.com/"),
        (URL, "http://example.com/" + "a" * MAX_URL_LENGTH),
    ],
)
def test_normalize_rejects_invalid_input_with_400(type_, raw):
    with pytest.raises(ServiceError) as caught:
        normalize(type_, raw)
    assert caught.value.code == BAD_REQUEST
    assert "\n" not in caught.value.message


def test_error_messages_quote_long_values_shortened():
    with pytest.raises(ServiceError) as caught:
        normalize(FILE, "z" * 100_000)
    assert len(caught.value.message) < 200


@pytest.mark.parametrize(
    ("value", "kind"), [(MD5, "md5"), (SHA1, "sha1"), (SHA256.lower(), "sha256")]
)
def test_hash_kind(value, kind):
    assert hash_kind(value) == kind


def test_hash_kind_of_a_non_hash_is_a_bad_request():
    with pytest.raises(ServiceError):
        hash_kind("abc")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(f"{SHA256}-1700000000", True), (f"{SHA256.lower()}-1", True), (SHA256, False),
     (f"{MD5}-1700000000", False), (f"{SHA256}-", False), (f"{SHA256}-1x", False)],
)  # fmt: skip
def test_is_scan_id(value, expected):
    assert is_scan_id(value) is expected


@pytest.mark.parametrize(
    ("indicator", "expected"),
    [(Indicator(IP, "2606:4700::1111"), True), (Indicator.parse(IP, "::ffff:8.8.8.8"), False),
     (Indicator(IP, "8.8.8.8"), False), (Indicator(URL, "http://[2606:4700::1111]/"), False)],
)  # fmt: skip
def test_is_ipv6(indicator, expected):
    assert is_ipv6(indicator) is expected


def test_indicator_parse_and_equality():
    assert Indicator.parse("domain", "Example.com.") == Indicator(DOMAIN, "example.com")
    assert len({Indicator.parse(IP, "::ffff:8.8.8.8"), Indicator(IP, "8.8.8.8")}) == 1


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://example.com/a", "example.com"),
        ("http://user@example.com:8080/", "example.com"),
        ("http://[2001:db8::1]:8080/", "2001:db8::1"),
        ("http://8.8.8.8/", "8.8.8.8"),
    ],
)
def test_url_host(url, host):
    assert url_host(url) == host


@pytest.mark.parametrize(
    "url",
    ["http://example.com/", "https://example.com/?a=>>>&b=???", "https://xn--bcher-kva.de/ü"],
)
def test_v3_url_id_is_unpadded_urlsafe_base64_of_the_url(url):
    identifier = v3_url_id(url)
    assert "=" not in identifier
    assert set(identifier) <= set(string.ascii_letters + string.digits + "-_")
    padded = identifier + "=" * (-len(identifier) % 4)
    assert base64.urlsafe_b64decode(padded) == url.encode("utf-8")


def test_v3_url_id_known_value():
    # "http://a.b/" is 11 bytes: 14 base64 characters after dropping one "=".
    assert v3_url_id("http://a.b/") == "aHR0cDovL2EuYi8"


@pytest.mark.parametrize(
    ("indicator", "internal_domains", "expected"),
    [
        (Indicator(IP, "10.1.2.3"), (), True),
        (Indicator(IP, "172.16.0.1"), (), True),
        (Indicator(IP, "192.168.1.1"), (), True),
        (Indicator(IP, "127.0.0.1"), (), True),
        (Indicator(IP, "169.254.1.1"), (), True),
        (Indicator(IP, "0.0.0.0"), (), True),
        (Indicator(IP, "100.64.0.1"), (), True),
        (Indicator(IP, "224.0.0.1"), (), True),
        (Indicator(IP, "240.0.0.1"), (), True),
        (Indicator(IP, "255.255.255.255"), (), True),
        (Indicator(IP, "::1"), (), True),
        (Indicator(IP, "::"), (), True),
        (Indicator(IP, "fe80::1"), (), True),
        (Indicator(IP, "fc00::1"), (), True),
        (Indicator(IP, "fec0::1"), (), True),
        (Indicator(IP, "ff02::1"), (), True),
        (Indicator(IP, "8.8.8.8"), (), False),
        (Indicator(IP, "2606:4700:4700::1111"), (), False),
        (Indicator(DOMAIN, "localhost"), (), True),
        (Indicator(DOMAIN, "db.localhost"), (), True),
        (Indicator(DOMAIN, "printer.local"), (), True),
        (Indicator(DOMAIN, "nas.home.arpa"), (), True),
        (Indicator(DOMAIN, "wiki.corp.internal"), (), True),
        (Indicator(DOMAIN, "example.com"), (), False),
        (Indicator(DOMAIN, "corp.example.com"), ("corp.example.com",), True),
        (Indicator(DOMAIN, "a.b.corp.example.com"), ("corp.example.com",), True),
        (Indicator(DOMAIN, "notcorp.example.com"), ("corp.example.com",), False),
        (Indicator(DOMAIN, "example.com"), ("corp.example.com",), False),
        (Indicator(DOMAIN, "host.example.org"), ("corp.example.com", ".Example.ORG"), True),
        (Indicator(URL, "http://10.0.0.1/x"), (), True),
        (Indicator(URL, "http://[::1]:8080/"), (), True),
        (Indicator(URL, "http://localhost:8000/"), (), True),
        (Indicator(URL, "https://intra.corp.example.com/a"), ("corp.example.com",), True),
        (Indicator(URL, "https://8.8.8.8/"), (), False),
        (Indicator(URL, "https://example.com/10.0.0.1"), (), False),
        (Indicator(FILE, MD5.lower()), ("corp.example.com",), False),
        (Indicator(URL, "not a url"), (), True),
    ],
)
def test_is_internal(indicator, internal_domains, expected):
    assert is_internal(indicator, internal_domains) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://wiki.corp.example\\@evil.example.com/", True),  # browsers' host: wiki...
        ("http://wiki.corp.example:pw@evil.example.com/", True),
        ("http://pw:wiki.corp.example@evil.example.com/", True),
        ("http://admin:10.0.0.1@evil.example.com/", True),
        ("http://admin:localhost@evil.example.com/", True),
        ("http://a%40b:pw@evil.example.com/", True),  # userinfo that reads as another host
        ("http://a%2Fb@evil.example.com/", True),
        ("http://0x7f.1/", True),
        ("http://[::ffff:10.0.0.1]/", True),
        ("http://WIKI.Corp.Example./x", True),
        ("example.com/", False),
        ("http://admin:secret@evil.example.com/", False),
        ("https://evil.example.com/wiki.corp.example", False),
        ("https://evil.example.com/?next=http://wiki.corp.example/", False),
    ],
)
def test_every_host_like_part_of_a_url_is_judged(raw, expected):
    assert is_internal(Indicator.parse(URL, raw), ["corp.example"]) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (MD5, FILE),
        (SHA1.lower(), FILE),
        (SHA256, FILE),
        ("8.8.8.8", IP),
        ("2001:db8::1", IP),
        ("evil.example", DOMAIN),
        ("Example.COM.", DOMAIN),
        ("https://evil.example/a", URL),
        ("HTTP://Example.com", URL),
        ("", None),
        ("hello", None),
        ("hello world.com", None),
        ("ftp://example.com/", URL),
        ("file:///etc/passwd", None),
        ("1.2.3", None),
        ("a" * 33, None),
        ("12:30:45", None),
    ],
)
def test_detect_type(raw, expected):
    assert detect_type(raw) is expected
