"""Text search from many threads: ioc-finder is never entered twice at once.

Its pyparsing grammars are shared and not thread-safe (pyparsing issue #89):
concurrent classify requests made a parse action fail with a TypeError.
"""

from __future__ import annotations

import threading

from dxlvtservice.topics import discovery


def test_ioc_finder_runs_one_search_at_a_time(monkeypatch):
    meeting = threading.Barrier(2, timeout=1)  # two searches inside at once would meet here
    met: list[bool] = []

    def find_iocs(text, **options):
        try:
            meeting.wait()
            met.append(True)
        except threading.BrokenBarrierError:
            met.append(False)
        return {kind: [] for kind in discovery._IOC_FINDER_TYPES}

    monkeypatch.setattr(discovery, "find_iocs", find_iocs)
    discovery._extract.cache_clear()
    threads = [threading.Thread(target=discovery._extract, args=(f"text {i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    discovery._extract.cache_clear()
    assert met == [False, False]
