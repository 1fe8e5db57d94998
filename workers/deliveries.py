"""Sending deliveries (issue 3 fills this in)."""

from __future__ import annotations

from typing import Any


async def send_deliveries(ctx: dict[str, Any], delivery_ids: list[int]) -> dict[str, int]:
    return {"sent": 0}


async def reconcile_deliveries(ctx: dict[str, Any]) -> dict[str, int]:
    return {"deliveries": 0}
