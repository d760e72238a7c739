"""The fast path answers before the app's middleware stack (gateway/fast.py): every middleware of the app
must be one it mirrors (``MIRRORED_MIDDLEWARE``), or a new one would silently not apply to the hot reads."""

from __future__ import annotations

from gateway.fast import GRAPHQL_PATH, MIRRORED_MIDDLEWARE, PERSONS_PREFIX
from tests.api.conftest import Province, make_api


def test_every_middleware_of_the_app_is_mirrored_by_the_fast_path(province: Province) -> None:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as api:
        app = api.client.app
    names = [m.cls.__name__ for m in app.user_middleware]  # type: ignore[attr-defined]
    assert names, "the app has middleware; an empty list means this test reads the wrong app"
    missing = [n for n in names if n not in MIRRORED_MIDDLEWARE]
    assert not missing, (
        f"{missing}: the fast path (gateway/fast.py) answers the hot reads before this middleware; do what it "
        "does in FastReads.serve (or show it does not apply) and name it in MIRRORED_MIDDLEWARE"
    )
    # Nothing stale either: every entry is a middleware the app has.
    assert set(MIRRORED_MIDDLEWARE) == set(names)


def test_the_app_channel_middleware_never_sees_a_fast_path_prefix() -> None:
    # The reason given for AppChannelMiddleware: its prefix and the fast path's paths do not meet.
    from mobile_api.errors import PREFIX

    assert not PERSONS_PREFIX.startswith(PREFIX) and not GRAPHQL_PATH.startswith(PREFIX)
