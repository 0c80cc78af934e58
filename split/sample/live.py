"""The shared system keeps living while a wave is under way: a day of changes for the staged demo.

One customer of the affiliate switches to a new entrant on the first of the month, another customer
comes to the affiliate, and a contact phone number is corrected: what `sync` has to bring over.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from split.db import engine_for
from split.sample.generate import AFFILIATE_CODE

SWITCH = date(2024, 11, 1)  # inside the monthly usage and 30-minute readings of the reference data


def a_day_of_changes(url: str) -> dict[str, int]:
    """Apply the changes to the reference database; returns what was changed, as counts."""
    md = sa.MetaData()
    periods = sa.Table("supply_period", md, autoload_with=engine_for(url))
    party = sa.Table("customer_party", md, autoload_with=engine_for(url))
    with engine_for(url).begin() as conn:
        leaving = open_period(conn, periods, affiliate=True)
        coming = open_period(conn, periods, affiliate=False)
        switched = 0
        for row, to_code in ((leaving, coming.retailer_code if coming else "01236"), (coming, AFFILIATE_CODE)):
            if row is not None:
                switch_customer(conn, periods, row, to_code)
                switched += 1
        corrected = conn.execute(
            party.update()
            .where(party.c.party_id == sa.select(sa.func.min(party.c.party_id)).scalar_subquery())
            .values(phone="06-6000-0000")
        ).rowcount
    return {"customers_switched": switched, "phones_corrected": int(corrected or 0)}


def open_period(conn: sa.Connection, periods: sa.Table, affiliate: bool) -> sa.Row | None:
    """The first supply point whose current (open-ended) period, started before SWITCH, is (not) the affiliate's."""
    held = periods.c.retailer_code == AFFILIATE_CODE if affiliate else periods.c.retailer_code != AFFILIATE_CODE
    stmt = sa.select(periods).where(held, periods.c.end_date.is_(None), periods.c.start_date < SWITCH)
    return conn.execute(stmt.order_by(periods.c.period_id)).first()


def switch_customer(conn: sa.Connection, periods: sa.Table, row: sa.Row, to_code: str) -> None:
    """The customer changes retailer on SWITCH: the open period ends the day before, a new one starts."""
    conn.execute(
        periods.update().where(periods.c.period_id == row.period_id).values(end_date=SWITCH - timedelta(days=1))
    )
    next_id = conn.execute(sa.select(sa.func.max(periods.c.period_id))).scalar_one() + 1
    values = {**row._asdict(), "period_id": next_id, "retailer_code": to_code, "start_date": SWITCH, "end_date": None}
    conn.execute(periods.insert().values(values))
