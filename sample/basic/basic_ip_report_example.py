"""VirusTotal's v2 report for an IPv4 address."""

from common import CONFIG_FILE, show
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig

from dxlvtservice.client import VirusTotalServiceClient

config = DxlClientConfig.create_dxl_config_from_file(CONFIG_FILE)

with DxlClient(config) as client:
    client.connect()
    vt = VirusTotalServiceClient(client)
    show(vt.ip_report("8.8.8.8"))
