"""The development fabric: a DXL broker double and a VirusTotal simulator on loopback.

Tests, benchmarks and the demo start both with one call, ``Fabric(workdir).start()``
(or ``with Fabric(workdir) as fabric:``). Nothing here is imported by ``dxlvtservice``.
"""

from .fabric import DEMO_API_KEY, Fabric

__all__ = ["DEMO_API_KEY", "Fabric"]
