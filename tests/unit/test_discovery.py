"""Indicator discovery in ``classify`` requests (docs/topics.md: `/classify`)."""

import random
import string

import pytest

from dxlvtservice.core.indicators import Indicator, IndicatorType
from dxlvtservice.errors import BAD_REQUEST, ServiceError
from dxlvtservice.topics.discovery import find_indicators
from dxlvtservice.topics.requests import ClassifyRequest, RequestPolicy

FILE, URL, DOMAIN, IP = IndicatorType
SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
MD5 = "44d88612fea8a8f36de82e1278abb02f"
MIB = 1 << 20


def find(request, max_indicators=100, **kwargs):
    """The indicators of a classify payload, parsed at the edge first as the service does."""
    policy = RequestPolicy(max_indicators=max_indicators)
    sources = ClassifyRequest.parse(request, policy=policy).sources
    return find_indicators(sources, max_indicators=max_indicators, **kwargs)


def refused(request, max_indicators=100, **kwargs) -> str:
    """The message of the 400 that ``request`` must get."""
    with pytest.raises(ServiceError) as caught:
        find(request, max_indicators, **kwargs)
    assert caught.value.code == BAD_REQUEST
    assert "\n" not in caught.value.message
    return caught.value.message


def test_seed_example_gives_one_domain_and_one_url():
    request = {
        "search_within": {"domain": "baddomain.com", "url": "https://baddomain.com/path/to/file"}
    }
    assert find(request) == [
        Indicator(DOMAIN, "baddomain.com"),
        Indicator(URL, "https://baddomain.com/path/to/file"),
    ]


def test_defanged_indicators_in_a_sentence():
    text = (
        f"The dropper (sha256 {SHA256.upper()}) fetched hxxps://evil[.]example/a, "
        "then beaconed to 10.0.0[.]1 every minute."
    )
    assert find({"text": text}) == [
        Indicator(FILE, SHA256),
        Indicator(URL, "https://evil.example/a"),
        Indicator(IP, "10.0.0.1"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hxxp://evil.com/x", Indicator(URL, "http://evil.com/x")),
        ("HXXPS://EVIL.COM/A", Indicator(URL, "https://evil.com/A")),
        ("http[:]//evil.com/x", Indicator(URL, "http://evil.com/x")),
        ("visit evil[.]com today", Indicator(DOMAIN, "evil.com")),
        ("visit evil(.)com today", Indicator(DOMAIN, "evil.com")),
        ("visit evil[dot]com today", Indicator(DOMAIN, "evil.com")),
        ("8[.]8[.]8[.]8", Indicator(IP, "8.8.8.8")),
        ("see (https://evil.com/x).", Indicator(URL, "https://evil.com/x")),
        ('<a href="http://evil.com/x?a=1">', Indicator(URL, "http://evil.com/x?a=1")),
        ("[link](https://evil.com/a_(b))", Indicator(URL, "https://evil.com/a_(b)")),
        ("http://[2001:db8::1]:8080/x", Indicator(URL, "http://[2001:db8::1]:8080/x")),
        ("https://bücher.de/x", Indicator(URL, "https://xn--bcher-kva.de/x")),
        ("an IDN: bücher.de.", Indicator(DOMAIN, "xn--bcher-kva.de")),
        ("v6 2001:DB8:0:0:0:0:0:1 seen", Indicator(IP, "2001:db8::1")),
        ("md5 " + MD5.upper() + ".", Indicator(FILE, MD5)),
        ("mail from billing@phish-sender.com", Indicator(DOMAIN, "phish-sender.com")),
        ("ftp://files.example.com/pub", Indicator(DOMAIN, "files.example.com")),
    ],
)
def test_content_forms(text, expected):
    assert find({"text": text}) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "nothing to see here",
        "run payload.exe, open invoice.zip, read README.md and run install.sh",
        "block 8.8.8.0/24 at the edge",
        "printer.local and wiki.corp.internal are not public domains",
        "at 12:30:45 on 2024-05-01",
    ],
)
def test_content_noise_is_not_an_indicator(text):
    assert find({"text": text}) == []


def test_url_in_text_does_not_also_give_its_host():
    text = "evil.com served http://evil.com/x; http://8.8.8.8/y was 8.8.8.8, not 8.8.4.4"
    assert find({"text": text}) == [
        Indicator(URL, "http://evil.com/x"),
        Indicator(URL, "http://8.8.8.8/y"),
        Indicator(IP, "8.8.4.4"),
    ]


def test_url_covers_its_host_across_strings_in_either_order():
    for strings in (["evil.com", "http://evil.com/x"], ["http://evil.com/x", "evil.com"]):
        assert find({"search_within": strings}) == [Indicator(URL, "http://evil.com/x")]


def test_url_path_and_query_are_not_searched():
    text = f"https://evil.com/dl/{SHA256}?next=other.com&sid={MD5}"
    assert find({"text": text}) == [Indicator(URL, text)]


def test_a_named_domain_stays_beside_the_url_on_it():
    request = {"domain": "evil.com", "text": "it served http://evil.com/x from evil.com"}
    assert find(request) == [Indicator(DOMAIN, "evil.com"), Indicator(URL, "http://evil.com/x")]


def test_key_names_at_depth():
    request = {
        "search_within": {
            "event": [
                {"meta": {"note": "no indicator here"}},
                {
                    "network": {"observer.ip": "8.8.8.8", "Dst_IP": ["1.1.1.1", "9.9.9.9"]},
                    "file": {"File-Hash": SHA256.upper(), "name": "report.pdf"},
                    "dns": {"query.hostname": "Evil.Example", "fqdn": "c2.evil.example."},
                    "http": {"URL": "https://evil.example/gate.php"},
                    "ecs": {"ip_address": "2001:db8::2", "IPv4": "4.4.4.4"},
                },
            ]
        }
    }
    assert find(request) == [
        Indicator(IP, "8.8.8.8"),
        Indicator(IP, "1.1.1.1"),
        Indicator(IP, "9.9.9.9"),
        Indicator(FILE, SHA256),
        Indicator(DOMAIN, "evil.example"),
        Indicator(DOMAIN, "c2.evil.example"),
        Indicator(URL, "https://evil.example/gate.php"),
        Indicator(IP, "2001:db8::2"),
        Indicator(IP, "4.4.4.4"),
    ]


def test_key_names_find_what_content_search_would_not():
    # "evil.example" has no IANA top-level domain: in prose it is not a domain,
    # under a key that names a domain (or any indicator) it is.
    assert find({"text": "evil.example"}) == []
    for key, value, expected in [
        ("domain", "evil.example", Indicator(DOMAIN, "evil.example")),
        ("ioc", "evil.example", Indicator(DOMAIN, "evil.example")),
        ("indicator", "8.8.8.8", Indicator(IP, "8.8.8.8")),
        ("domain", "payload.zip", Indicator(DOMAIN, "payload.zip")),
    ]:
        assert find({"search_within": {key: value}}) == [expected]


def test_a_keyed_value_of_the_wrong_type_is_searched_as_text():
    request = {"search_within": {"ip": "10.0.0.1:8080", "host": "see hxxp://evil.com/a"}}
    assert find(request) == [Indicator(IP, "10.0.0.1"), Indicator(URL, "http://evil.com/a")]


def test_dictionary_keys_are_not_searched():
    assert find({"search_within": {"evil.com": "value", "user.name": "x"}}) == []


def test_search_within_may_be_any_json_value():
    assert find({"search_within": "seen evil.com"}) == [Indicator(DOMAIN, "evil.com")]
    assert find({"search_within": ["8.8.8.8", 42, None, True, {"a": ["evil.com"]}]}) == [
        Indicator(IP, "8.8.8.8"),
        Indicator(DOMAIN, "evil.com"),
    ]
    assert find({"search_within": 42}) == []


def test_deep_nesting_does_not_overflow():
    deep = "evil.com"
    for _ in range(20_000):
        deep = [deep]
    assert find({"search_within": deep}) == [Indicator(DOMAIN, "evil.com")]


def test_expression_limits_the_search():
    search_within = {
        "alert": {"source": {"ip": "8.8.8.8"}, "note": "seen evil.com"},
        "context": {"domain": "noise.com", "ip": "1.1.1.1"},
    }
    request = {"search_within": search_within, "expression": "alert"}
    assert find(request) == [Indicator(IP, "8.8.8.8"), Indicator(DOMAIN, "evil.com")]
    assert len(find({"search_within": search_within})) == 4


def test_expression_result_may_be_a_value_or_nothing():
    search_within = {"alerts": [{"ip": "8.8.8.8"}, {"ip": "1.1.1.1"}, {"ip": "8.8.8.8"}]}
    assert find({"search_within": search_within, "expression": "alerts.ip"}) == [
        Indicator(IP, "8.8.8.8"),
        Indicator(IP, "1.1.1.1"),
    ]
    assert find({"search_within": search_within, "expression": "missing.path"}) == []


@pytest.mark.parametrize(
    "expression",
    [
        "alert.[",
        "$unknown_function()",
        "$match(alert, /(a+)+$/)",
        "($f := function($n){$f($n)}; $f(1))",
        "",
        42,
        "a" * 10_000,
    ],
)
def test_bad_expression_is_a_bad_request(expression):
    refused({"search_within": {"alert": "aaaa"}, "expression": expression}, time_budget_sec=0.5)


def test_expression_without_search_within_is_a_bad_request():
    assert "search_within" in refused({"expression": "a", "text": "evil.com"})


def test_dedup_and_normalisation_across_fields():
    request = {
        "hash": [SHA256.upper(), SHA256],
        "sha256": SHA256,
        "domain": ["bücher.de", "XN--BCHER-KVA.DE."],
        "ip": ["2001:DB8:0:0:0:0:0:1", "2001:db8::1", "::ffff:8.8.8.8"],
        "url": ["HTTPS://Example.com:443", "https://example.com/#top"],
        "search_within": {"md5": MD5, "ip": "8.8.8.8", "note": f"{SHA256} at example.com"},
        "text": f"again {MD5.upper()} and https://EXAMPLE.com/",
    }
    assert find(request) == [
        Indicator(FILE, SHA256),
        Indicator(DOMAIN, "xn--bcher-kva.de"),
        Indicator(IP, "2001:db8::1"),
        Indicator(IP, "8.8.8.8"),
        Indicator(URL, "https://example.com/"),
        Indicator(FILE, MD5),
    ]


def test_first_seen_order_follows_the_request():
    request = {"text": "8.8.8.8", "domain": "evil.com", "md5": MD5}
    assert find(request) == [
        Indicator(IP, "8.8.8.8"),
        Indicator(DOMAIN, "evil.com"),
        Indicator(FILE, MD5),
    ]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"ip": "999.1.1.1"}, "ip"),
        ({"domain": ["evil.com", "not a domain"]}, "domain"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"hash": "abc"}, "hash"),
        ({"resource": "http://evil.com/"}, "resource"),
        ({"md5": SHA256}, "md5"),
        ({"domain": ""}, "domain"),
        ({"ip": 8}, "ip"),
        ({"url": ["http://a.com/", None]}, "url"),
        ({"sha1": {"value": MD5}}, "sha1"),
    ],
)
def test_invalid_explicit_value_is_a_bad_request_naming_the_field(request_, field):
    assert repr(field) in refused(request_)


def test_explicit_empty_list_is_valid_and_finds_nothing():
    assert find({"domain": []}) == []


@pytest.mark.parametrize("request_", [{}, {"rules": {"malicious_positives": 3}}, {"domain": None}])
def test_no_usable_field_is_a_bad_request(request_):
    refused(request_)


def test_text_must_be_a_string():
    refused({"text": ["evil.com"]})


@pytest.mark.parametrize(
    "request_", [{"text": "nothing here"}, {"search_within": {"a": [1, 2, "b"]}}, {"text": ""}]
)
def test_valid_request_without_indicators_gives_an_empty_list(request_):
    assert find(request_) == []


def test_max_indicators():
    ips = [f"8.8.8.{i}" for i in range(1, 4)]
    assert len(find({"ip": ips}, max_indicators=3)) == 3
    assert "2" in refused({"ip": ips}, max_indicators=2)
    assert len(find({"ip": ips + ips}, max_indicators=3)) == 3  # duplicates do not count
    assert "100" in refused({"text": " ".join(f"9.9.{i // 250}.{i % 250}" for i in range(101))})


def test_hosts_covered_by_a_url_do_not_count_towards_the_limit():
    text = "evil.com, bad.com, http://evil.com/a and http://bad.com/b"
    assert len(find({"text": text}, max_indicators=2)) == 2


def test_indicators_far_into_a_long_text_are_found():
    text = "word " * 5_000 + "evil.com " + "x" * 10_000 + " 8.8.8.8"
    assert find({"text": text}) == [Indicator(DOMAIN, "evil.com"), Indicator(IP, "8.8.8.8")]


def test_time_budget_refusal_says_what_to_do():
    message = refused({"text": "evil.com " * 1_000}, time_budget_sec=0)
    assert "seconds" in message


def _hostile_texts():
    rng = random.Random(7)

    def fill(make):
        parts, size = [], 0
        while size < MIB:
            part = make()
            parts.append(part)
            size += len(part)
        return "".join(parts)[:MIB]

    return {
        "brackets": "[" * MIB,
        "colons": ":" * MIB,
        "defang-soup": fill(lambda: rng.choice(["[.]", "(.)", "dot", "DOT", "::", "hxxp://", "-"])),
        "dot-tokens": fill(lambda: "aDOTb" * rng.randint(100, 800) + ". "),
        "ips": fill(lambda: f"8.8.{rng.randrange(3)}.{rng.randrange(30)} "),
        "urls": fill(lambda: f"http://evil.com/{rng.randrange(10**6)} "),
        "printable": fill(lambda: rng.choice(string.printable)),
    }


@pytest.mark.parametrize("name", list(_hostile_texts()))
def test_one_mib_of_hostile_text_is_answered_or_refused(name):
    text = _hostile_texts()[name]
    try:
        found = find({"text": text})
    except ServiceError as err:
        assert err.code == BAD_REQUEST
    else:
        assert len(found) <= 100


def test_one_mib_of_hostile_json_is_answered_or_refused():
    # Few distinct indicators, but no two strings alike: nothing to reuse.
    strings = [f"event {i}: 8.8.8.{i % 50} asked evil.com" for i in range(30_000)]
    try:
        found = find({"search_within": {"events": strings}})
    except ServiceError as err:
        assert err.code == BAD_REQUEST
    else:
        assert len(found) <= 100
