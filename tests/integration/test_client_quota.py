"""A quota refusal reaches the client library as a 429 with the seconds to wait.

Its own module: the fabric spreads requests between every registered service,
so this service must be the only one.
"""

from __future__ import annotations

import pytest

from devfabric.vtsim.dataset import EXAMPLES
from dxlvtservice.client import VirusTotalServiceClient, VirusTotalServiceError


def test_quota_refusal_carries_retry_after(dxl, start_service, simulator):
    start_service({"RateLimit": {"rateLimitMs": 0, "requestsPerMinute": "unlimited",
                                 "requestsPerDay": 1}})  # fmt: skip
    vt = VirusTotalServiceClient(dxl)
    vt.file_report(EXAMPLES["file"]["low"])  # spends the day's one unit
    with pytest.raises(VirusTotalServiceError) as refused:
        vt.file_report(EXAMPLES["file"]["unknown"])
    assert refused.value.code == 429
    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 86400
