"""LBS: the agencies nearest to a coordinate, with the great-circle distance to each.

The distance is the haversine formula on a sphere of the mean Earth radius (6,371.0088 km, IUGG), which
differs from the ellipsoid by under 0.5 %: plenty for "which service hall is nearest". Coordinates are
WGS-84 degrees; geometry is float (it is not money).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from hub.errors import ValidationFailed

EARTH_RADIUS_M = 6_371_008.8


class AgencyNear(BaseModel):
    id: int
    name: str
    region_code: str
    address: str
    phone: str
    longitude: Decimal
    latitude: Decimal
    opening_hours: dict[str, list[str]] = Field(description='办公时间，如 {"mon": ["09:00-12:00"]}')
    services: list[str] = Field(description="可办业务")
    distance_m: int = Field(description="直线距离（米）")


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres: 2R·asin(√(sin²(Δφ/2) + cos φ1·cos φ2·sin²(Δλ/2)))."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


async def nearest(
    conn: AsyncConnection[Any], latitude: float, longitude: float, *, limit: int = 5, within_km: float | None = None
) -> list[AgencyNear]:
    """Active agencies ordered by distance from (``latitude``, ``longitude``), nearest first.

    A bounding box narrows the scan when ``within_km`` is given; the exact distance decides.
    """
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180) or math.isnan(latitude + longitude):
        raise ValidationFailed("坐标不正确")
    params: dict[str, Any] = {}
    where = "active"
    if within_km is not None:
        dlat = math.degrees(within_km * 1000 / EARTH_RADIUS_M)
        cos = math.cos(math.radians(latitude))
        dlon = 180.0 if cos < 1e-6 else min(180.0, dlat / cos)
        params = {"lat0": latitude - dlat, "lat1": latitude + dlat}
        where += " and latitude between %(lat0)s and %(lat1)s"
        if dlon < 180.0 and longitude - dlon >= -180 and longitude + dlon <= 180:
            params |= {"lon0": longitude - dlon, "lon1": longitude + dlon}
            where += " and longitude between %(lon0)s and %(lon1)s"
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "select id, name, region_code, address, phone, longitude, latitude, opening_hours, services "
        f"from hub.app_agency where {where}",
        params,
    )
    found = []
    for row in await cur.fetchall():
        d = haversine_m(latitude, longitude, float(row["latitude"]), float(row["longitude"]))
        if within_km is None or d <= within_km * 1000:
            found.append(AgencyNear.model_validate({**row, "distance_m": round(d)}))
    found.sort(key=lambda a: (a.distance_m, a.id))
    return found[:limit]
