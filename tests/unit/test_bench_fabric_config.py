"""A given dxlclient.config, copied for each client of the fabric (devfabric.fabric)."""

from __future__ import annotations

from configobj import ConfigObj

from devfabric.fabric import copy_client_config


def test_the_copy_points_at_the_same_certificates_and_broker_and_names_no_client_id(tmp_path):
    source = tmp_path / "given" / "dxlclient.config"
    source.parent.mkdir()
    source.write_text(
        "[General]\nClientId = one-client\n\n"
        "[Certs]\nBrokerCertChain = ca.crt\nCertFile = /abs/client.crt\nPrivateKey = keys/c.key\n\n"
        "[Brokers]\n{b1} = {b1};8883;broker.example;10.0.0.1\n",
        encoding="utf-8",
    )
    copy = copy_client_config(source, tmp_path / "client")
    assert copy == tmp_path / "client" / "dxlclient.config"
    assert copy.stat().st_mode & 0o077 == 0
    config = ConfigObj(str(copy))
    assert dict(config["Certs"]) == {
        "BrokerCertChain": str(source.parent / "ca.crt"),
        "CertFile": "/abs/client.crt",
        "PrivateKey": str(source.parent / "keys" / "c.key"),
    }
    assert dict(config["Brokers"]) == {"{b1}": "{b1};8883;broker.example;10.0.0.1"}
    assert "ClientId" not in config.get("General", {})
