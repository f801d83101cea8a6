"""dxlvtservice: VirusTotal on a DXL fabric."""

import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (ROOT / "dxlvtservice" / "__init__.py").read_text()
).group(1)

setup(
    name="dxlvtservice",
    version=VERSION,
    description="VirusTotal for an OpenDXL fabric: shared quota, cache, batching and verdicts",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["dxlvtservice", "dxlvtservice.*"]),
    install_requires=[
        "dxlclient>=5.6,<6",
        "dxlbootstrap>=0.2.2,<0.3",
        "msgpack>=0.5,<1",  # dxlclient's range; read directly for large requests
        # dxlbootstrap 0.2.2 imports pkg_resources, removed in setuptools 82.
        "setuptools>=40,<82",
        "requests>=2.28,<3",
        "diskcache>=5.6,<6",
        "redis>=5,<9",  # a fleet's shared store (docs/fleet.md)
        "idna>=3.4,<4",
        "ada-url>=4,<5",
        "ioc-finder>=7.3,<10",
        "jsonata-python>=0.6,<1",
        "dxltieclient>=0.3,<0.4",
        "prometheus-client>=0.17,<1",
        "python-json-logger>=3.1,<5",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "trustme>=1.1,<2",
            "cryptography>=41",
            "dxlvtapiclient==0.2.0",
            "ruff>=0.6",
            "pytest-timeout>=2.2,<3",
            "hypothesis>=6.100,<7",
        ],
        "bench": ["dxlvtapiservice==0.2.0", "matplotlib>=3.7,<4"],
    },
    entry_points={
        "console_scripts": [
            "dxlvtservice = dxlvtservice.__main__:main",
            "dxlvtservice-cli = dxlvtservice.cli:main",
        ]
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Security",
    ],
)
