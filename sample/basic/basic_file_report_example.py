"""VirusTotal's v2 file report for one hash, or several (a list answers a list)."""

from common import CONFIG_FILE, show
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig

from dxlvtservice.client import VirusTotalServiceClient

config = DxlClientConfig.create_dxl_config_from_file(CONFIG_FILE)

with DxlClient(config) as client:
    client.connect()
    vt = VirusTotalServiceClient(client)
    show(vt.file_report("44d88612fea8a8f36de82e1278abb02f"))
