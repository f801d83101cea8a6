"""Classify a VirusTotal report you already have, with the service's rules (no quota spent)."""

from common import CONFIG_FILE, show
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig

from dxlvtservice.client import VirusTotalServiceClient

config = DxlClientConfig.create_dxl_config_from_file(CONFIG_FILE)

with DxlClient(config) as client:
    client.connect()
    vt = VirusTotalServiceClient(client)
    report = {"response_code": 1, "positives": 3, "total": 70, "permalink": "https://example/"}
    show(vt.analyze("file", report, rules={"malicious_positives": 3}))
