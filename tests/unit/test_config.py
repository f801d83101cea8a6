"""Configuration: every key validated, errors naming section and key."""

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from dxlvtservice.config import ConfigError, load, parse

KEY = "k" * 64


def settings_from(text: str, environ=None, config_dir=Path(".")):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parse(parser, config_dir, environ or {})


def test_defaults():
    settings = settings_from(f"[General]\napiKey = {KEY}\n")
    assert settings.api_version == 3
    assert settings.rate_limit_ms == 15000
    assert settings.requests_per_minute == 4
    assert settings.requests_per_day == 500
    assert settings.batch_size == 4
    assert settings.rules.malicious_positives == 5
    assert settings.rules.trusted_positives == 1
    assert settings.rules.domain_detections is None
    assert settings.publish_verdicts == {"malicious"}
    assert settings.min_refresh == 60
    assert KEY not in repr(settings)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("VirusTotal", "apiVersion", "4"),
        ("VirusTotal", "baseUrl", "ftp://x"),
        ("VirusTotal", "allowSubmissions", "maybe"),
        ("VirusTotal", "requestTimeoutSec", "soon"),
        ("RateLimit", "rateLimitMs", "-1"),
        ("RateLimit", "batchSize", "26"),
        ("RateLimit", "requestsPerMinute", "0"),
        ("Cache", "responseCacheMaxSize", "0"),
        ("Classification", "maliciousPositives", "0"),
        ("Classification", "trustedPositives", "always"),
        ("Classification", "ipDetectionsThreshold", "high"),
        ("Classification", "publishVerdicts", "evil"),
        ("Classification", "internalDomains", "not a domain"),
        ("Limits", "maxIndicatorsPerRequest", "x"),
        ("Limits", "minRefreshSec", "-1"),
        ("Limits", "minRefreshSec", "1.5"),
        ("IncomingMessagePool", "threadCount", "0"),
        ("TIE", "exportVerdicts", "sometimes"),
        ("TIE", "maliciousTrustLevel", "50"),
        ("TIE", "maliciousTrustLevel", "off"),
        ("TIE", "trustedTrustLevel", "99"),
        ("TIE", "trustedTrustLevel", "100"),
        ("TIE", "enrichFirstInstance", "2"),
        ("TIE", "backgroundShare", "0"),
        ("TIE", "backgroundShare", "1.5"),
        ("TIE", "backgroundShare", "-0.25"),
        ("TIE", "backgroundShare", "nan"),
        ("TIE", "backgroundShare", "a quarter"),
    ],
)
def test_bad_values_name_section_and_key(section, key, value):
    with pytest.raises(ConfigError) as error:
        settings_from(f"[General]\napiKey = {KEY}\n[{section}]\n{key} = {value}\n")
    assert str(error.value).startswith(f"[{section}] {key}:")


def test_min_refresh_zero_is_allowed():
    settings = settings_from(f"[General]\napiKey = {KEY}\n[Limits]\nminRefreshSec = 0\n")
    assert settings.min_refresh == 0


def test_key_sources(tmp_path):
    assert settings_from("[General]\n", {"VT_API_KEY": KEY}).api_key == KEY
    (tmp_path / "vt.key").write_text(KEY + "\n")
    from_file = settings_from("[General]\napiKeyFile = vt.key\n", config_dir=tmp_path)
    assert from_file.api_key == KEY
    with pytest.raises(ConfigError, match=r"\[General\] apiKey"):
        settings_from("[General]\n")


def test_never_and_off_words():
    settings = settings_from(
        f"[General]\napiKey = {KEY}\n[Classification]\ntrustedPositives = never\n"
        "domainDetectionsThreshold = 10\nipDetectionsThreshold = off\n"
    )
    assert settings.rules.trusted_positives is None
    assert settings.rules.domain_detections == 10
    assert settings.rules.ip_detections is None


def test_tie_defaults_and_choices():
    default = settings_from(f"[General]\napiKey = {KEY}\n")
    assert (default.tie_export, default.tie_malicious_level, default.tie_trusted_level) == (
        False, 1, 70
    )  # fmt: skip
    chosen = settings_from(
        f"[General]\napiKey = {KEY}\n[TIE]\nexportVerdicts = yes\nmaliciousTrustLevel = 30\n"
        "trustedTrustLevel = off\n"
    )
    assert (chosen.tie_export, chosen.tie_malicious_level, chosen.tie_trusted_level) == (
        True, 30, None
    )  # fmt: skip


def test_background_share_defaults_to_a_quarter_and_may_be_all():
    assert settings_from(f"[General]\napiKey = {KEY}\n").background_share == 0.25
    chosen = settings_from(f"[General]\napiKey = {KEY}\n[TIE]\nbackgroundShare = 1\n")
    assert chosen.background_share == 1.0


def test_trusted_above_malicious_warns():
    settings = settings_from(
        f"[General]\napiKey = {KEY}\n[Classification]\nmaliciousPositives = 2\n"
        "trustedPositives = 5\n"
    )
    assert "trustedPositives" in settings.warnings[0]


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path)


def check(config_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dxlvtservice", "--check-config", str(config_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def write_dxlclient_config(directory: Path) -> None:
    for name in ("ca.crt", "c.crt", "c.key"):
        (directory / name).write_text("PEM")
    (directory / "dxlclient.config").write_text(
        "[Certs]\nBrokerCertChain = ca.crt\nCertFile = c.crt\nPrivateKey = c.key\n"
        "[Brokers]\nb1 = b1;8883;localhost;127.0.0.1\n"
    )


def test_check_config_command(tmp_path):
    write_dxlclient_config(tmp_path)
    config = tmp_path / "dxlvtservice.config"
    config.write_text(f"[General]\napiKey = {KEY}\n[RateLimit]\nbatchSize = 99\n")
    bad = check(tmp_path)
    assert bad.returncode != 0
    assert "[RateLimit] batchSize" in bad.stderr
    assert KEY not in bad.stdout + bad.stderr
    config.write_text(f"[General]\napiKey = {KEY}\n")
    good = check(tmp_path)
    assert good.returncode == 0, good.stderr
    assert "configuration OK" in good.stdout


def test_check_config_refuses_a_typo_that_start_up_only_warns_about(tmp_path):
    write_dxlclient_config(tmp_path)
    (tmp_path / "dxlvtservice.config").write_text(
        f"[General]\napiKey = {KEY}\n[Cache]\ncacheApiResponse = no\n"
    )
    result = check(tmp_path)
    assert result.returncode == 1
    hint = "[Cache] cacheapiresponse: unknown key (did you mean cacheApiResponses?)"
    assert hint in result.stderr
    assert "configuration OK" not in result.stdout


def test_check_config_names_a_missing_certificate(tmp_path):
    write_dxlclient_config(tmp_path)
    (tmp_path / "c.key").unlink()
    (tmp_path / "dxlvtservice.config").write_text(f"[General]\napiKey = {KEY}\n")
    result = check(tmp_path)
    assert result.returncode != 0
    assert "PrivateKey" in result.stderr


def _uncommented_sample(tmp_path: Path) -> Path:
    """The documented sample with every key set to its documented value."""
    sample = (Path(__file__).resolve().parents[2] / "config" / "dxlvtservice.config").read_text()
    lines = []
    for line in sample.splitlines():
        if line.startswith(";") and "=" in line:
            key = line[1:].split("=", 1)[0].strip()
            if key in ("apiKeyFile", "storeUrl", "storePasswordFile", "storeCaFile",
                       "storeCertFile", "storeKeyFile", "cacheDirectory"):
                continue  # files and servers that do not exist here
            line = line[1:]
        lines.append(line)
    (tmp_path / "dxlvtservice.config").write_text("\n".join(lines), encoding="utf-8")
    return tmp_path


def test_every_documented_key_is_known(tmp_path):
    settings = load(_uncommented_sample(tmp_path), {"VT_API_KEY": "k" * 64})
    assert settings.unknown == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[RateLimit]\nrequestPerMinute = 4\n",
         "[RateLimit] requestperminute: unknown key (did you mean requestsPerMinute?)"),
        ("[Ratelimit]\nrequestsPerMinute = 4\n",
         "[Ratelimit]: unknown section (did you mean RateLimit?)"),
        ("[Cache]\nzzz = 1\n", "[Cache] zzz: unknown key"),
        ("[Nonsense]\na = 1\n", "[Nonsense]: unknown section"),
    ],
)
def test_unknown_sections_and_keys_name_the_closest_known_one(tmp_path, text, problem):
    (tmp_path / "dxlvtservice.config").write_text(text, encoding="utf-8")
    assert load(tmp_path, {"VT_API_KEY": "k" * 64}).unknown == (problem,)
