"""The 退收 estimate of a stop (hub.units.refund), on the query store the real sync fills from the core.

Worked by hand from the test parameters (tests/fixtures/params.py): 2025 months use the 2024 全口径
wage 7,300, bounds 4,380–21,900, so a 10,000 wage is the base. 120: unit 16 % = 1,600.00, person 8 % =
800.00; 116: unit 8 % = 800.00, person 4 % = 400.00; one month of both 险种 = 3,600.00.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core import service as core_service
from hub import pg
from hub.units.refund import Refund, estimate
from tests.declarations.conftest import World, world

__all__ = ["world"]


def test_months_after_the_stop_month_paid_or_not_net_of_earlier_returns(world: World) -> None:
    with pg.connect(world.dbs.core_url) as core:
        # person 3 joins unit 1 from January, handled on 15 March: January and February (补收) and March planned
        core_service.enrol(core, 1, 3, date(2025, 1, 1), Decimal("10000"), date(2025, 3, 15))
        core.execute("update core.ac43 set aae078 = '1', paid_on = '2025-03-20' where aac001 = 3 and aae003 = 202502")
        core.commit()
    world.sync_round()
    # Stop on 20 January: February and March are reversed, 2 × 3,600.00 = 7,200.00; February was paid.
    assert estimate(world.query, 1, 3, date(2025, 1, 20)) == Refund(2, Decimal("7200.00"), Decimal("3600.00"))
    # Stop in March: nothing planned after March.
    assert estimate(world.query, 1, 3, date(2025, 3, 31)) == Refund(0, Decimal(0), Decimal(0))
    # Another unit holds nothing of this person.
    assert estimate(world.query, 2, 3, date(2025, 1, 20)) == Refund(0, Decimal(0), Decimal(0))
    with pg.connect(world.dbs.core_url) as core:
        # the core reverses the months after February (March, 退收 rows) when it applies a stop on 20 February …
        core_service.stop(core, 1, 3, date(2025, 2, 20))
        core.commit()
    world.sync_round()
    # … so from January on only February is left: March nets to zero. 1 month, 3,600.00, all of it paid.
    assert estimate(world.query, 1, 3, date(2025, 1, 20)) == Refund(1, Decimal("3600.00"), Decimal("3600.00"))
