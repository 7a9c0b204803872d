"""A contender that does nothing but hold memory: checks the harness measures and caps it."""

from __future__ import annotations

import time


def allocate(params: dict, meter) -> dict:
    with meter.measure():
        block = bytearray(int(params["mb"]) * 1024 * 1024)
        for i in range(0, len(block), 4096):  # touch every page so it is resident
            block[i] = 1
        time.sleep(float(params.get("hold_s", 0.3)))
    return {"rows_out": len(block) // (1024 * 1024)}
