"""Run dxlvtapiservice 0.2.0 from PyPI, the service ours replaces, against the simulator.

Its VirusTotal address is a class attribute, ``VTAPI_URL_FORMAT``, that no
setting changes: this launcher overrides it, then runs the package's own
``__main__`` unchanged. Usage: ``python -m bench.anchor SIMULATOR_URL CONFIG_DIR``.
"""

from __future__ import annotations

import runpy
import sys

from dxlvtapiservice.app import VirusTotalApiService


def main(argv: list[str]) -> None:
    simulator_url, config_dir = argv
    VirusTotalApiService.VTAPI_URL_FORMAT = simulator_url.rstrip("/") + "/vtapi/v2{0}"
    sys.argv = ["dxlvtapiservice", config_dir]
    runpy.run_module("dxlvtapiservice", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
