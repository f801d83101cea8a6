"""dxlvtservice: VirusTotal on a DXL fabric, with one shared quota, cache and verdict rules."""

__version__ = "1.0.0"
SERVICE_TYPE = "/opendxl-virustotal/service/vtapi"
VERDICT_EVENT_TOPIC = "/opendxl-virustotal/event/verdict"
