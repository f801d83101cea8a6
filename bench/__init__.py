"""The benchmark: dxlvtservice against dxlvtapiservice 0.2.0 and an echo floor.

Run ``python -m bench`` (``./dev bench``); see ``bench/README.md``.
"""
