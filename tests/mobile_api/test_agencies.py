"""LBS: nearest agencies with haversine distances checked by hand."""

from __future__ import annotations

import math

import pytest

from hub.content.agencies import EARTH_RADIUS_M, haversine_m
from tests.api.conftest import Api, Province


def test_haversine_along_a_meridian_by_hand() -> None:
    # Same longitude, so the great-circle distance is R·Δφ (haversine with Δλ = 0: a = sin²(Δφ/2)).
    # Δφ = 28.2346° − 28.0000° = 0.2346° = 0.2346 × π/180 = 0.004094542 rad;
    # d = 6,371,008.8 m × 0.004094542 = 26,086.4 m.
    assert haversine_m(28.0, 112.9448, 28.2346, 112.9448) == pytest.approx(26_086.4, abs=0.5)


def test_haversine_along_a_parallel_by_hand() -> None:
    # Same latitude φ = 28.1936°, Δλ = 0.1°: a = cos²φ·sin²(Δλ/2), so d = 2R·asin(cos φ·sin 0.05°).
    # sin 0.05° = sin 0.000872665 rad = 0.000872665 (x − x³/6, the cube term 1.1e-10);
    # cos 28.1936° = cos 28°·cos 0.1936° − sin 28°·sin 0.1936°
    #             = 0.882947593 × 0.999994291 − 0.469471563 × 0.003378951 = 0.881356231;
    # cos φ·sin(Δλ/2) = 0.881356231 × 0.000872665 = 0.000769128; asin adds x³/6 = 7.6e-11;
    # d = 2 × 6,371,008.8 × 0.000769128 = 9,800.2 m.
    assert haversine_m(28.1936, 112.9065, 28.1936, 113.0065) == pytest.approx(9_800.2, abs=0.5)


def test_haversine_is_symmetric_and_zero_on_the_spot() -> None:
    assert haversine_m(28.2, 112.9, 28.2, 112.9) == 0
    assert haversine_m(28.0, 112.0, 29.0, 113.0) == pytest.approx(haversine_m(29.0, 113.0, 28.0, 112.0))
    # Antipodes: half the circumference, π·R.
    assert haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_M)


def test_nearest_endpoint_orders_by_distance_and_reports_metres(api: Api, province: Province) -> None:
    r = api.get(None, "/app/v1/agencies/nearest", params={"lat": 28.0, "lon": 112.9448, "limit": 20})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    distances = [a["distance_m"] for a in data]
    assert distances == sorted(distances)
    by_name = {a["name"]: a for a in data}
    # The city centre's hall lies due north of the point: 26,086 m as computed by hand above.
    centre = by_name["长沙市社会保险服务中心"]
    assert centre["distance_m"] == 26_086
    assert centre["address"].startswith("湖南省长沙市")
    assert centre["opening_hours"]["sat"] == ["09:00-12:00"]
    assert "个人权益记录打印" in centre["services"]

    r = api.get(None, "/app/v1/agencies/nearest", params={"lat": 28.1936, "lon": 112.9065, "limit": 20})
    assert {a["name"]: a["distance_m"] for a in r.json()["data"]}["芙蓉区社会保险服务中心"] == 9_800


def test_nearest_within_radius_and_limit(api: Api, province: Province) -> None:
    # 9.8 km to 芙蓉区 (above); a 9 km radius leaves it out, a 10 km radius keeps it.
    params = {"lat": 28.1936, "lon": 112.9065, "limit": 20}
    names9 = {
        a["name"] for a in api.get(None, "/app/v1/agencies/nearest", params={**params, "within_km": 9}).json()["data"]
    }
    names10 = {
        a["name"] for a in api.get(None, "/app/v1/agencies/nearest", params={**params, "within_km": 10}).json()["data"]
    }
    assert "芙蓉区社会保险服务中心" not in names9
    assert "芙蓉区社会保险服务中心" in names10
    assert names9 < names10
    one = api.get(None, "/app/v1/agencies/nearest", params={**params, "limit": 1}).json()["data"]
    assert len(one) == 1


def test_bad_coordinates_are_refused_in_chinese(api: Api, province: Province) -> None:
    r = api.get(None, "/app/v1/agencies/nearest", params={"lat": 95, "lon": 112.9})
    assert r.status_code == 422
    assert r.json()["code"] == "INVALID_REQUEST"
