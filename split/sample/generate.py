"""Deterministic generator of the reference shared 託送 database, streamed in batches of supply points.

Same seed and size → same rows on every engine. Memory is bounded by the batch, not the size.
Customers switch between the affiliate and new entrants on the first of a month (the switch date is a
metering date), so data after a switch belongs to the new retailer: ownership by date matters.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from split.db import create_database, describe_db_error, engine_for
from split.engine.pgcopy import write_rows
from split.errors import ConfigError
from split.i18n import _
from split.sample import names
from split.sample import schema as s
from split.settings import parse_url

AREA_CODE = "06"  # the generated NW is 関西 (area 06)
AFFILIATE_CODE = "00016"  # 小売電気事業者コード: company 0001, area 6
HORIZON_START = date(2022, 4, 1)
LAST_MONTH = date(2024, 12, 1)  # the most recent switch month; monthly usage ends the month before
INTERVAL_END = date(2024, 12, 2)  # 30-minute readings cover the days up to here (across a switch date)

AREAS = [
    ("01", "北海道", "北海道電力ネットワーク"),
    ("02", "東北", "東北電力ネットワーク"),
    ("03", "東京", "東京電力パワーグリッド"),
    ("04", "中部", "中部電力パワーグリッド"),
    ("05", "北陸", "北陸電力送配電"),
    ("06", "関西", "関西電力送配電"),
    ("07", "中国", "中国電力ネットワーク"),
    ("08", "四国", "四国電力送配電"),
    ("09", "九州", "九州電力送配電"),
    ("10", "沖縄", "沖縄電力"),
]
RETAILERS = [  # (code, registration, name, corporate number, affiliated)
    (AFFILIATE_CODE, "A0001", "関西電力", "1120001059675", True),
    ("01236", "A0123", "みらいでんき", "4010001123456", False),
    ("02346", "A0234", "さくらエナジー", "6120001234567", False),
    ("03456", "A0345", "なにわ新電力", "8120001345678", False),
    ("04566", "A0456", "比叡パワー", "2130001456789", False),
    ("05676", "A0567", "ひかりエネルギー", "3010401567890", False),
]
ENTRANTS = [r[0] for r in RETAILERS if not r[4]]
MENUS = [
    ("従量電灯A", "A"),
    ("従量電灯B", "A"),
    ("電灯標準接続送電サービス", "kVA"),
    ("低圧電力", "kW"),
    ("時間帯別電灯", "kVA"),
]
STAFF = [names.person(random.Random(i))[0] for i in range(12)]


def months(start: date, end: date) -> list[date]:
    out, d = [], start
    while d <= end:
        out.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return out


SWITCH_MONTHS = months(date(2022, 5, 1), LAST_MONTH)
USAGE_MONTHS = months(HORIZON_START, date(2024, 11, 1))


@dataclass
class Period:
    retailer: str
    start: date
    end: date | None  # inclusive; None = open
    person: tuple[str, str, str] = ("", "", "")  # the contract holder registered for this period
    phone: str = ""

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass
class Counters:
    period: int = 0
    party: int = 0
    request: int = 0
    usage: int = 0
    contact: int = 0
    work: int = 0
    fit: int = 0
    log: int = 0


@dataclass
class Batch:
    rows: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, table: sa.Table, row: dict) -> None:
        self.rows.setdefault(table.name, []).append(row)


def _dec(value: float, places: int) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def _spell_phone(rng: random.Random, phone: str) -> str:
    """Phones in free text come in many spellings: with hyphens, without, in full-width digits."""
    roll = rng.random()
    if roll < 0.4:
        return phone
    if roll < 0.7:
        return phone.replace("-", "")
    return phone.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))


class Generator:
    def __init__(self, supply_points: int, seed: int, interval_days: int) -> None:
        self.n = supply_points
        self.seed = seed
        self.interval_days = interval_days
        self.rng = random.Random(seed)
        self.c = Counters()
        self.interval_dates = [INTERVAL_END - timedelta(days=d) for d in range(interval_days - 1, -1, -1)]

    def masters(self) -> Batch:
        b = Batch()
        for code, name, company in AREAS:
            b.add(s.area, {"area_code": code, "area_name": name, "nw_company_name": company})
        for code, reg, name, corp, aff in RETAILERS:
            b.add(
                s.retailer,
                {
                    "retailer_code": code,
                    "registration_no": reg,
                    "name": name,
                    "corporate_number": corp,
                    "is_affiliated": aff,
                },
            )
        return b

    def batches(self, size: int) -> Iterator[Batch]:
        for start in range(0, self.n, size):
            b = Batch()
            for i in range(start, min(start + size, self.n)):
                self.supply_point(b, i)
            yield b

    def timeline(self) -> list[Period]:
        rng = self.rng
        current = AFFILIATE_CODE if rng.random() < 0.92 else rng.choice(ENTRANTS)
        roll = rng.random()
        n_switches = 0 if roll < 0.80 else 1 if roll < 0.96 else 2
        switch_dates = sorted(set(rng.sample(SWITCH_MONTHS, n_switches)))
        if n_switches and rng.random() < 0.35 and LAST_MONTH not in switch_dates:
            switch_dates[-1] = LAST_MONTH  # put switches inside the 30-minute window
            switch_dates = sorted(set(switch_dates))
        periods = [Period(current, HORIZON_START, None)]
        for when in switch_dates:
            if current == AFFILIATE_CODE:
                current = rng.choice(ENTRANTS)
            else:
                current = AFFILIATE_CODE if rng.random() < 0.6 else rng.choice([e for e in ENTRANTS if e != current])
            periods[-1].end = when - timedelta(days=1)
            periods.append(Period(current, when, None))
        return periods

    def supply_point(self, b: Batch, i: int) -> None:
        rng, c = self.rng, self.c
        voltage = "低圧" if rng.random() < 0.93 else "高圧"
        spid = f"{AREA_CODE}{'1' if voltage == '低圧' else '2'}{(i * 7_919 + 104_729) % 10**19:019d}"
        postal, premises, phone_area = names.address(rng)
        has_gen = rng.random() < 0.06
        b.add(
            s.supply_point,
            {
                "supply_point_id": spid,
                "area_code": AREA_CODE,
                "voltage_class": voltage,
                "contract_type": rng.choice(["電灯", "電力", "深夜電力"]),
                "postal_code": postal,
                "premises_address": premises,
                "supply_method": rng.choice(["単相3線", "単相2線", "三相3線"]),
                "service_pole_no": f"K{rng.randint(0, 99_999_999):08d}",
                "meter_reading_day": rng.randint(1, 28),
                "has_grid_connected_gen": has_gen,
                "substation_id": f"SS{rng.randint(1, 400):04d}",
                "feeder_id": f"FD{rng.randint(1, 9_999):06d}",
                "transformer_id": f"TR{rng.randint(1, 99_999_999):08d}",
            },
        )
        b.add(
            s.meter,
            {
                "meter_no": f"M{i + 10_000_000:011d}",
                "supply_point_id": spid,
                "meter_kind": rng.choice(["スマートメーター", "スマートメーター", "機械式"]),
                "smart_flag": rng.random() < 0.9,
                "install_date": HORIZON_START - timedelta(days=rng.randint(30, 3000)),
                "comm_route": rng.choice(["無線マルチホップ", "1:N無線", "PLC"]),
                "comm_module_id": f"CM{rng.randint(0, 10**12):014d}",
            },
        )
        periods = self.timeline()
        person = names.person(rng)
        phone = names.phone(rng, phone_area)
        menu, unit = rng.choice(MENUS)
        for k, p in enumerate(periods):
            c.period += 1
            wcid = f"{i:012d}{k:03d}{p.retailer}"
            b.add(
                s.wheeling_contract,
                {
                    "wheeling_contract_id": wcid,
                    "supply_point_id": spid,
                    "retailer_code": p.retailer,
                    "bg_code": f"B{p.retailer[:4]}",
                    "service_menu": menu,
                    "contract_amount": _dec(rng.choice([30, 40, 50, 60, 6, 8, 10]), 1),
                    "contract_unit": unit,
                    "power_factor": _dec(rng.choice([85, 90, 95, 100]), 1),
                    "status": "有効" if p.end is None else "廃止",
                    "start_date": p.start,
                    "end_date": p.end,
                    "retail_contract_no": f"{p.retailer}-{rng.randint(0, 10**9):09d}",
                },
            )
            b.add(
                s.supply_period,
                {
                    "period_id": c.period,
                    "supply_point_id": spid,
                    "retailer_code": p.retailer,
                    "wheeling_contract_id": wcid,
                    "start_date": p.start,
                    "end_date": p.end,
                },
            )
            if k > 0 and rng.random() < 0.2:  # a new occupant: new name and phone
                person, phone = names.person(rng), names.phone(rng, phone_area)
            p.person, p.phone = person, phone
            c.party += 1
            b.add(
                s.customer_party,
                {
                    "party_id": c.party,
                    "supply_point_id": spid,
                    "registered_on": p.start,
                    "contract_name": person[0],
                    "name_kana": person[1],
                    "phone": phone,
                    "email": names.email(rng, person[2]),
                    "billing_address": premises if rng.random() < 0.9 else names.address(rng)[1],
                    "memo": rng.choice([None, None, f"連絡は平日夜間希望 {_spell_phone(rng, phone)}", "高齢者世帯"]),
                    "ledger_ref": f"C{rng.randint(0, 10**12):013d}",
                },
            )
            if k > 0:
                c.request += 1
                b.add(
                    s.switching_request,
                    {
                        "request_id": c.request,
                        "supply_point_id": spid,
                        "request_type": "スイッチング",
                        "from_retailer_code": periods[k - 1].retailer,
                        "to_retailer_code": p.retailer,
                        "requested_date": p.start - timedelta(days=rng.randint(8, 40)),
                        "switch_date": p.start,
                    },
                )
        self.usage(b, spid, periods)
        self.readings(b, i, spid)
        if has_gen:
            self.generation(b, spid)
        self.free_text(b, spid, periods)
        self.other(b, i, spid, periods, has_gen)

    def usage(self, b: Batch, spid: str, periods: list[Period]) -> None:
        base = self.rng.uniform(120, 600)
        for month in USAGE_MONTHS:
            self.c.usage += 1
            season = 1.35 if month.month in (1, 2, 7, 8, 12) else 1.0
            b.add(
                s.monthly_usage,
                {
                    "usage_id": self.c.usage,
                    "supply_point_id": spid,
                    "usage_month": month,
                    "kwh": _dec(base * season * self.rng.uniform(0.8, 1.2), 1),
                    "max_demand_kw": _dec(self.rng.uniform(1, 9), 1) if self.rng.random() < 0.8 else None,
                    "power_factor": _dec(self.rng.choice([85, 90, 95, 100]), 1),
                },
            )

    def readings(self, b: Batch, i: int, spid: str) -> None:
        rows = b.rows.setdefault(s.interval_reading_30min.name, [])
        rnd = self.rng.random
        for d, day in enumerate(self.interval_dates):
            base_id = (i * self.interval_days + d) * 48
            for slot in range(1, 49):
                rows.append(
                    {
                        "reading_id": base_id + slot,
                        "supply_point_id": spid,
                        "reading_date": day,
                        "slot": slot,
                        "kwh_import": Decimal(int(rnd() * 900) + 20) / 1000,
                        "kwh_export": Decimal(0) if rnd() < 0.95 else Decimal(int(rnd() * 500)) / 1000,
                        "status": "確定" if day < INTERVAL_END else "速報",
                    }
                )

    def generation(self, b: Batch, spid: str) -> None:
        """Solar-shaped generation, daylight slots only. Its own random stream, so that adding this table left
        every other table of the reference data as it was."""
        rng = random.Random(f"{self.seed}:generation:{spid}")
        capacity = rng.uniform(0.5, 3.0)
        rows = b.rows.setdefault(s.generation_reading_30min.name, [])
        for day in self.interval_dates:
            for slot in range(1, 49):
                sun = max(0.0, 1 - abs(slot - 25) / 12) * capacity * rng.uniform(0.2, 1.0)
                generated = Decimal(int(sun * 1000)) / 1000
                rows.append(
                    {
                        "supply_point_id": spid,
                        "reading_date": day,
                        "slot": slot,
                        "kwh_generated": generated,
                        "kwh_exported": Decimal(int(sun * rng.uniform(0.3, 0.9) * 1000)) / 1000,
                    }
                )

    def free_text(self, b: Batch, spid: str, periods: list[Period]) -> None:
        """Memos name the customer of the day: the contract holder of the period the memo falls in."""
        rng = self.rng
        for _i in range(rng.choice([0, 1, 1, 2, 3])):
            day = HORIZON_START + timedelta(days=rng.randint(0, (INTERVAL_END - HORIZON_START).days))
            period = next(p for p in periods if p.covers(day))
            retail_writes = period.retailer == AFFILIATE_CODE and rng.random() < 0.55
            name, spelled = period.person[0], _spell_phone(rng, period.phone)
            if retail_writes:
                memo = rng.choice(
                    [
                        f"料金プラン変更のご相談。{name}様 {spelled} へ折返し予定。",
                        "引越し予定の連絡あり。解約日を確認中。",
                        "口座振替の手続き案内を送付。",
                    ]
                )
            else:
                memo = rng.choice(
                    [
                        f"停電のお問い合わせ。{name}様より連絡、折返し先 {spelled}。",
                        f"メーター交換の日程調整。立会い {name}様。",
                        "スマートメーター通信不良、再設定済み。",
                        "電柱移設の件、現地確認済み。",
                    ]
                )
            self.c.contact += 1
            b.add(
                s.contact_history,
                {
                    "contact_id": self.c.contact,
                    "supply_point_id": spid,
                    "contact_date": day,
                    "department": "小売" if retail_writes else "NW",
                    "staff_name": rng.choice(STAFF),
                    "channel": rng.choice(["電話", "窓口", "Web"]),
                    "memo": memo,
                },
            )

    def other(self, b: Batch, i: int, spid: str, periods: list[Period], has_gen: bool) -> None:
        rng, c = self.rng, self.c
        if rng.random() < 0.3:
            c.work += 1
            owner = names.person(rng)[0]
            b.add(
                s.work_order,
                {
                    "work_order_id": c.work,
                    "supply_point_id": spid,
                    "created_on": HORIZON_START + timedelta(days=rng.randint(0, 900)),
                    "category": rng.choice(["引込線張替", "計器取替", "電柱移設", "停電調査"]),
                    "crew_memo": f"{owner}様宅 作業。連絡先 {_spell_phone(rng, periods[-1].phone)}。",
                },
            )
        if has_gen:
            c.fit += 1
            b.add(
                s.fit_contract,
                {
                    "fit_id": c.fit,
                    "receiving_point_id": f"{AREA_CODE}9{(i * 104_723 + 7) % 10**19:019d}",
                    "generator_owner": names.person(rng)[0],
                    "generator_capacity_kw": _dec(rng.uniform(3, 50), 1),
                    "fuel_type": rng.choice(["太陽光", "太陽光", "風力", "バイオマス"]),
                    "fit_start_date": date(rng.randint(2013, 2022), rng.randint(1, 12), 1),
                    "buyback_price_yen": _dec(rng.choice([42, 38, 32, 21, 17]), 2),
                    "certification_id": f"F{rng.randint(0, 10**10):011d}",
                },
            )
        own = [p for p in periods if p.retailer == AFFILIATE_CODE]
        if own:  # the retailer's own account of its (last) own contract holder
            b.add(
                s.retail_account,
                {
                    "account_no": f"R{i:011d}",
                    "supply_point_id": spid,
                    "plan_name": rng.choice(["はぴeタイムR", "なっトクでんき", "従量電灯A"]),
                    "payment_method": rng.choice(["口座振替", "クレジット", "払込票"]),
                    "marketing_consent": rng.random() < 0.4,
                    "note": rng.choice([None, None, "WEB会員登録済み", f"督促連絡先 {own[-1].phone}"]),
                },
            )
        self.access(b, spid, periods)

    def access(self, b: Batch, spid: str, periods: list[Period]) -> None:
        """Views of the shared screens. Retail staff viewing a non-affiliate customer is the planted leak."""
        rng = self.rng
        window = (datetime(2024, 9, 1), 91 * 24 * 3600)
        views = [("NW", f"N{rng.randint(1, 40):04d}") for _i in range(rng.choice([1, 2, 3]))]
        improper = rng.random() < 0.04
        if improper or rng.random() < 0.3:
            views.append(("RETAIL", f"R{rng.randint(1, 30):04d}"))
        for org, user in views:
            at = window[0] + timedelta(seconds=rng.randint(0, window[1]))
            owner = next(p.retailer for p in periods if p.covers(at.date()))
            if org == "RETAIL" and owner != AFFILIATE_CODE and not improper:
                continue  # proper retail views are of own customers only
            self.c.log += 1
            b.add(
                s.access_log,
                {
                    "log_id": self.c.log,
                    "user_id": user,
                    "organisation": org,
                    "supply_point_id": spid,
                    "viewed_at": at,
                    "screen": rng.choice(["需要者情報照会", "契約情報照会", "使用量照会"]),
                },
            )


@dataclass(frozen=True)
class SampleSummary:
    rows: dict[str, int]
    supply_points: int
    seed: int


BATCH_ROWS = 100_000  # rows held in memory per insert batch, whatever the size of the database


def build(
    url: str,
    supply_points: int = 200,
    seed: int = 1,
    *,
    interval_days: int = 4,
    replace: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> SampleSummary:
    """`generate`, with the user's inputs checked first (usage errors, exit 2)."""
    parse_url(url, "sample")
    if supply_points < 1 or interval_days < 1:
        raise ConfigError(_("--supply-points and --interval-days must be at least 1"))
    try:
        create_database(url)
    except Exception as exc:  # a server that refuses: say why, without a traceback
        raise ConfigError(
            _("cannot create or reach the database: %(exc)s") % {"exc": describe_db_error(exc, hide_values=False)},
            hint=_("check the URL and that the server runs"),
        ) from None
    return generate(url, supply_points, seed, interval_days=interval_days, replace=replace, on_progress=on_progress)


def generate(
    url: str,
    supply_points: int = 200,
    seed: int = 1,
    *,
    interval_days: int = 4,
    batch_size: int | None = None,
    replace: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> SampleSummary:
    """Create the reference tables at URL and fill them; returns the row count per table."""
    create_database(url)
    engine = engine_for(url)
    existing = set(sa.inspect(engine).get_table_names())
    clash = sorted(existing & {t.name for t in s.TABLES})
    if clash and not replace:
        raise ConfigError(
            _("the database already holds reference tables (%(clash)s)") % {"clash": ", ".join(clash)},
            hint=_("pass --replace to drop and rebuild them, or use an empty database"),
        )
    s.metadata.drop_all(engine)
    s.metadata.create_all(engine)
    gen = Generator(supply_points, seed, interval_days)
    rows_per_point = 48 * interval_days + len(USAGE_MONTHS) + 12
    batch_size = batch_size or max(1, BATCH_ROWS // rows_per_point)
    counts: dict[str, int] = {t.name: 0 for t in s.TABLES}
    _insert(engine, gen.masters(), counts)
    done = 0
    for batch in gen.batches(batch_size):
        _insert(engine, batch, counts)
        done = min(done + batch_size, supply_points)
        if on_progress:
            on_progress(done)
    return SampleSummary(counts, supply_points, seed)


def _insert(engine: sa.Engine, batch: Batch, counts: dict[str, int]) -> None:
    with engine.begin() as conn:
        for table in s.TABLES:  # parents first
            rows = batch.rows.get(table.name)
            if rows:
                if conn.dialect.name == "postgresql":  # COPY: benchmark-sized sources build in minutes
                    names = list(table.columns.keys())
                    write_rows(conn, table.name, names, [[tuple(r.get(n) for n in names) for r in rows]])
                else:
                    conn.execute(table.insert(), rows)
                counts[table.name] += len(rows)
