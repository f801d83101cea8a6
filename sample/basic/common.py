"""What every example shares: the dxlclient.config to connect with, and how to print answers.

Set ``DXLVT_CLIENT_CONFIG`` to a dxlclient.config (or a folder holding one), or
put ``dxlclient.config`` next to these examples. Provision it for your fabric
with ``python -m dxlclient provisionconfig ...`` (docs/deployment.md).
"""

import json
import os

CONFIG_FILE = os.environ.get("DXLVT_CLIENT_CONFIG") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "dxlclient.config"
)
if os.path.isdir(CONFIG_FILE):
    CONFIG_FILE = os.path.join(CONFIG_FILE, "dxlclient.config")


def show(answer):
    """Print the service's answer as indented JSON."""
    print(json.dumps(answer, indent=4, sort_keys=True))
