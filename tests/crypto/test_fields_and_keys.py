"""Encrypted fields, blind indexes, wrapped keys, rotation and re-wrapping on the real hub DB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub import pg
from hub.crypto import keys
from hub.crypto.fields import Keyring, Kind, key_id_of, normalise
from hub.crypto.rotation import EncryptedColumn, keys_in_use, pending, reencrypt
from hub.crypto.sm import SealBroken
from tests.conftest import Databases

KEK = "test-kek-" + "a" * 24
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
ID = "11010519491231002X"
TEST_COLUMN = EncryptedColumn("public.t_secret", "phone_enc", ("id",), "t_secret.phone_enc")


def ring() -> Keyring:
    return Keyring({7: bytes(range(16))}, 7, bytes(range(16, 32)))


def test_normalisation_makes_typed_variants_equal() -> None:
    # Full-width digits and a lower-case check character, with stray spaces, as a clerk may type them.
    assert normalise(Kind.ID_NUMBER, " １１０１０５１９４９１２３１００２ｘ ") == ID
    assert normalise(Kind.PHONE, "+86 138-0013-8000") == "13800138000"
    assert normalise(Kind.BANK_ACCOUNT, "6222 0202 0000 1234 567") == "6222020200001234567"
    r = ring()
    assert r.blind_index(Kind.ID_NUMBER, "11010519491231002x") == r.blind_index(Kind.ID_NUMBER, ID)
    # Same digits, different kinds: different index domains.
    assert r.blind_index(Kind.PHONE, "13800138000") != r.blind_index(Kind.BANK_ACCOUNT, "13800138000")


def test_envelope_is_bound_to_its_row_and_key() -> None:
    r = ring()
    sealed = r.seal(Kind.ID_NUMBER, ID.lower(), "person:1")
    assert sealed[0] == 1 and key_id_of(sealed) == 7
    assert ID.encode() not in sealed
    assert r.open(sealed, "person:1") == ID  # stored canonical
    with pytest.raises(SealBroken):
        r.open(sealed, "person:2")  # copied into another row
    forged = bytes([1]) + (8).to_bytes(4, "big") + sealed[5:]
    with pytest.raises(SealBroken):
        r.open(forged, "person:1")  # key id changed: key 8 unknown
    both = Keyring({7: bytes(range(16)), 8: bytes(range(16))}, 7, r.index_key)
    with pytest.raises(SealBroken):
        both.open(forged, "person:1")  # same key bytes, but the header is authenticated


@given(st.text(min_size=1, max_size=40))
def test_any_text_round_trips(value: str) -> None:
    r = ring()
    assert r.open(r.seal(Kind.TEXT, value, "c"), "c") == normalise(Kind.TEXT, value)


def test_keys_wrapped_rotated_and_rewrapped(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        first = keys.ensure(conn, KEK, NOW)
        assert keys.ensure(conn, KEK, NOW) == first  # idempotent
        raw = conn.execute("select wrapped from hub.crypto_key").fetchall()
        assert not any(first.data_keys[first.active_id] in cast(bytes, w[0]) for w in raw)  # never stored in clear
        with pytest.raises(keys.KeyringUnavailable, match="HUB_CRYPTO__KEK"):
            keys.load(conn, "another-kek-" + "b" * 20)

        new_id = keys.rotate_data_key(conn, KEK, NOW)
        conn.commit()
        second = keys.load(conn, KEK)
        assert second is not None and second.active_id == new_id != first.active_id
        assert second.data_keys[first.active_id] == first.data_keys[first.active_id]  # old key kept
        assert second.index_key == first.index_key  # blind indexes stay valid across rotation

        assert keys.rewrap(conn, KEK, "new-kek-" + "c" * 24) == 3
        conn.commit()
        with pytest.raises(keys.KeyringUnavailable):
            keys.load(conn, KEK)
        moved = keys.load(conn, "new-kek-" + "c" * 24)
        assert moved == second


def test_reencrypt_is_resumable_and_keeps_every_value(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        old = keys.ensure(conn, KEK, NOW)
        conn.execute("create table public.t_secret (id int primary key, phone_enc bytea)")
        phones = {i: f"139{i:08d}" for i in range(1, 2501)}
        with conn.cursor() as cur:
            cur.executemany(
                "insert into public.t_secret values (%s, %s)",
                [(i, old.seal(Kind.PHONE, p, TEST_COLUMN.context((i,)))) for i, p in phones.items()],
            )
        conn.execute("insert into public.t_secret values (9999, null)")
        conn.commit()
        keys.rotate_data_key(conn, KEK, NOW)
        conn.commit()
        new = keys.load(conn, KEK)
        assert new is not None
        assert pending(conn, new, TEST_COLUMN) == 2500

        class Crash(Exception):
            pass

        def crash_after_first_batch(n: int) -> None:
            raise Crash

        with pytest.raises(Crash):
            reencrypt(conn, new, TEST_COLUMN, batch=1000, progress=crash_after_first_batch)
        conn.rollback()
        assert pending(conn, new, TEST_COLUMN) == 1500  # the first batch was committed before the crash

        assert reencrypt(conn, new, TEST_COLUMN, batch=1000) == 1500
        assert pending(conn, new, TEST_COLUMN) == 0
        assert keys_in_use(conn, TEST_COLUMN) == {new.active_id}
        rows = conn.execute("select id, phone_enc from public.t_secret where phone_enc is not null").fetchall()
        assert {i: new.open(cast(bytes, b), TEST_COLUMN.context((i,))) for i, b in rows} == phones  # phone_enc: bytea
        assert keys.retire_unused(conn, keys_in_use(conn, TEST_COLUMN), NOW) == [old.active_id]
        conn.commit()
