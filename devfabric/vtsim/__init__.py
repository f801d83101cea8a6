"""A VirusTotal double: API v2 and v3 over HTTP, with quotas, latency and faults.

Run it with ``python -m devfabric.vtsim`` and steer it with
:class:`devfabric.vtsim.control.SimulatorControl`; its data is described in
``DATASET.md`` and importable from :mod:`devfabric.vtsim.dataset`.
"""
