"""[Fleet]: the store a fleet shares, validated before anything connects; the password hidden."""

from pathlib import Path

import pytest

from dxlvtservice.config import ConfigError

from .test_config import KEY, settings_from

PASSWORD = "s3cret-store-password"


def fleet(lines: str, environ=None, config_dir=Path(".")):
    return settings_from(f"[General]\napiKey = {KEY}\n[Fleet]\n{lines}\n", environ, config_dir)


def test_no_store_url_means_the_local_store():
    assert fleet("").fleet is None


def test_a_store_url_with_its_defaults():
    settings = fleet("storeUrl = redis://10.0.0.5:6379/2")
    assert settings.fleet.store_url == "redis://10.0.0.5:6379/2"
    assert (settings.fleet.key_prefix, settings.fleet.instances) == ("dxlvtservice", 1)
    assert settings.fleet.password is None


def test_the_password_from_a_file_or_the_environment_never_shown(tmp_path):
    (tmp_path / "store.password").write_text(PASSWORD + "\n")
    from_file = fleet("storeUrl = redis://h:6379\nstorePasswordFile = store.password",
                      config_dir=tmp_path)  # fmt: skip
    assert from_file.fleet.password == PASSWORD
    from_env = fleet("storeUrl = redis://h:6379", {"DXLVT_STORE_PASSWORD": PASSWORD})
    assert from_env.fleet.password == PASSWORD
    assert PASSWORD not in repr(from_file) and PASSWORD not in repr(from_env)


def test_tls_files_are_checked_and_need_rediss(tmp_path):
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp_path / name).write_text("-----BEGIN-----")
    tls = "storeCaFile = ca.crt\nstoreCertFile = client.crt\nstoreKeyFile = client.key"
    settings = fleet(f"storeUrl = rediss://h:6380/0\n{tls}", config_dir=tmp_path)
    assert settings.fleet.ca_file == tmp_path / "ca.crt"
    with pytest.raises(ConfigError, match=r"\[Fleet\] storeCaFile: needs a rediss://"):
        fleet(f"storeUrl = redis://h:6379\n{tls}", config_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"\[Fleet\] storeCaFile: no such file"):
        fleet("storeUrl = rediss://h\nstoreCaFile = missing.crt", config_dir=tmp_path)


@pytest.mark.parametrize(
    ("lines", "key"),
    [
        ("storeUrl = http://h:6379", "storeUrl"),
        ("storeUrl = redis://", "storeUrl"),
        ("storeUrl = redis://h:port", "storeUrl"),
        ("storeUrl = redis://h:6379/db", "storeUrl"),
        ("storeUrl = redis://h:6379\ninstances = 0", "instances"),
        ("storeUrl = redis://h:6379\nkeyPrefix = has space", "keyPrefix"),
        ("storeUrl = redis://h:6379\nstorePasswordFile = /nonexistent/pw", "storePasswordFile"),
    ],
)
def test_bad_values_name_section_and_key(lines, key):
    with pytest.raises(ConfigError) as error:
        fleet(lines)
    assert str(error.value).startswith(f"[Fleet] {key}:")


def test_a_password_in_the_url_is_refused_without_repeating_it():
    with pytest.raises(ConfigError) as error:
        fleet(f"storeUrl = redis://user:{PASSWORD}@h:6379/0")
    assert str(error.value).startswith("[Fleet] storeUrl:")
    assert PASSWORD not in str(error.value)
