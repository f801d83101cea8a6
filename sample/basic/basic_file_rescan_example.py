"""Ask VirusTotal to rescan a file (needs a private API key; never cached)."""

from common import CONFIG_FILE, show
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig

from dxlvtservice.client import VirusTotalServiceClient

config = DxlClientConfig.create_dxl_config_from_file(CONFIG_FILE)

with DxlClient(config) as client:
    client.connect()
    vt = VirusTotalServiceClient(client)
    show(vt.file_rescan("44d88612fea8a8f36de82e1278abb02f"))
