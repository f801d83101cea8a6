"""Find the indicators in an alert and in free text, look them up, and classify them.

Defanged forms (hxxp, [.]) are found too; private IPs are never sent to VirusTotal."""

from common import CONFIG_FILE, show
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig

from dxlvtservice.client import VirusTotalServiceClient

config = DxlClientConfig.create_dxl_config_from_file(CONFIG_FILE)

with DxlClient(config) as client:
    client.connect()
    vt = VirusTotalServiceClient(client)
    alert = {"alert": {"src_ip": "10.1.2.3", "ioc": "hxxp://malware[.]example[.]com/gate"}}
    answer = vt.classify(
        search_within=alert,
        text="dropper 44d88612fea8a8f36de82e1278abb02f seen on two hosts",
    )
    show(answer)
    print("Overall verdict:", answer["verdict"])
