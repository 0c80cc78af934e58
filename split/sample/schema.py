"""Tables of the reference shared 託送 database (`bunkatsu sample-db`; the model of a real 託送 system).

The toolkit never depends on these names: they exist for the demo, tests and benchmarks.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
_sp = "supply_point.supply_point_id"
_text = sa.Text().with_variant(sa.Text(collation="utf8mb4_bin"), "mysql", "mariadb")


def _spid(nullable: bool = False) -> sa.Column:
    return sa.Column("supply_point_id", sa.String(22), sa.ForeignKey(_sp), nullable=nullable, index=True)


area = sa.Table(
    "area",
    metadata,
    sa.Column("area_code", sa.String(2), primary_key=True),  # 01–10, the supply point id prefix
    sa.Column("area_name", sa.String(20), nullable=False),
    sa.Column("nw_company_name", sa.String(40), nullable=False),
)

retailer = sa.Table(
    "retailer",
    metadata,
    sa.Column("retailer_code", sa.String(5), primary_key=True),  # 小売電気事業者コード
    sa.Column("registration_no", sa.String(5), nullable=False),  # 登録番号 A+4
    sa.Column("name", sa.String(60), nullable=False),
    sa.Column("corporate_number", sa.String(13), nullable=False),  # 法人番号
    sa.Column("is_affiliated", sa.Boolean, nullable=False),  # 特定関係事業者
)

supply_point = sa.Table(
    "supply_point",
    metadata,
    sa.Column("supply_point_id", sa.String(22), primary_key=True),  # 供給地点特定番号
    sa.Column("area_code", sa.String(2), sa.ForeignKey("area.area_code"), nullable=False),
    sa.Column("voltage_class", sa.String(8), nullable=False),  # 低圧/高圧/特別高圧
    sa.Column("contract_type", sa.String(10), nullable=False),
    sa.Column("postal_code", sa.String(8), nullable=False),
    sa.Column("premises_address", sa.String(120), nullable=False),  # 供給地点住所
    sa.Column("supply_method", sa.String(10), nullable=False),
    sa.Column("service_pole_no", sa.String(12), nullable=False),  # 引込柱番号
    sa.Column("meter_reading_day", sa.SmallInteger, nullable=False),  # 検針日
    sa.Column("has_grid_connected_gen", sa.Boolean, nullable=False),  # 系統連系設備有無
    sa.Column("substation_id", sa.String(10), nullable=False),  # grid topology: NW-only
    sa.Column("feeder_id", sa.String(12), nullable=False),
    sa.Column("transformer_id", sa.String(14), nullable=False),
)

meter = sa.Table(
    "meter",
    metadata,
    sa.Column("meter_no", sa.String(12), primary_key=True),  # 計量器番号
    _spid(),
    sa.Column("meter_kind", sa.String(20), nullable=False),
    sa.Column("smart_flag", sa.Boolean, nullable=False),
    sa.Column("install_date", sa.Date, nullable=False),
    sa.Column("comm_route", sa.String(10), nullable=False),  # AMI internals: NW-only
    sa.Column("comm_module_id", sa.String(16), nullable=False),
)

wheeling_contract = sa.Table(
    "wheeling_contract",
    metadata,
    sa.Column("wheeling_contract_id", sa.String(20), primary_key=True),  # 契約識別番号 (20)
    _spid(),
    sa.Column("retailer_code", sa.String(5), sa.ForeignKey("retailer.retailer_code"), nullable=False),
    sa.Column("bg_code", sa.String(5), nullable=False),
    sa.Column("service_menu", sa.String(20), nullable=False),  # 接続送電サービスメニュー
    sa.Column("contract_amount", sa.Numeric(8, 1), nullable=False),  # 契約容量/契約電力
    sa.Column("contract_unit", sa.String(3), nullable=False),  # A / kVA / kW
    sa.Column("power_factor", sa.Numeric(4, 1), nullable=False),  # 力率 (%)
    sa.Column("status", sa.String(6), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date),
    sa.Column("retail_contract_no", sa.String(16), nullable=False),
)

supply_period = sa.Table(
    "supply_period",
    metadata,
    sa.Column("period_id", sa.Integer, primary_key=True, autoincrement=False),
    _spid(),
    sa.Column("retailer_code", sa.String(5), sa.ForeignKey("retailer.retailer_code"), nullable=False),
    sa.Column("wheeling_contract_id", sa.String(20), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date),  # NULL: still supplying
)

customer_party = sa.Table(
    "customer_party",
    metadata,
    sa.Column("party_id", sa.Integer, primary_key=True, autoincrement=False),
    _spid(),
    sa.Column("registered_on", sa.Date, nullable=False),  # registered by the retailer supplying then
    sa.Column("contract_name", sa.String(40), nullable=False),  # 契約名義
    sa.Column("name_kana", sa.String(60), nullable=False),
    sa.Column("phone", sa.String(16), nullable=False),  # 連絡先電話番号
    sa.Column("email", sa.String(80)),
    sa.Column("billing_address", sa.String(120), nullable=False),
    sa.Column("memo", _text),  # NW staff notes
    sa.Column("ledger_ref", sa.String(16), nullable=False),  # 需要者管理番号
)

switching_request = sa.Table(
    "switching_request",
    metadata,
    sa.Column("request_id", sa.Integer, primary_key=True, autoincrement=False),
    _spid(),
    sa.Column("request_type", sa.String(10), nullable=False),  # スイッチング / 再点
    sa.Column("from_retailer_code", sa.String(5), nullable=False),
    sa.Column("to_retailer_code", sa.String(5), nullable=False),
    sa.Column("requested_date", sa.Date, nullable=False),
    sa.Column("switch_date", sa.Date, nullable=False),
)

monthly_usage = sa.Table(
    "monthly_usage",
    metadata,
    sa.Column("usage_id", sa.Integer, primary_key=True, autoincrement=False),
    _spid(),
    sa.Column("usage_month", sa.Date, nullable=False),  # first day of the metered month
    sa.Column("kwh", sa.Numeric(10, 1), nullable=False),  # 使用電力量
    sa.Column("max_demand_kw", sa.Numeric(8, 1)),
    sa.Column("power_factor", sa.Numeric(4, 1), nullable=False),
)

interval_reading_30min = sa.Table(
    "interval_reading_30min",
    metadata,
    sa.Column("reading_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
    _spid(),
    sa.Column("reading_date", sa.Date, nullable=False),
    sa.Column("slot", sa.SmallInteger, nullable=False),  # 1–48
    sa.Column("kwh_import", sa.Numeric(9, 3), nullable=False),
    sa.Column("kwh_export", sa.Numeric(9, 3), nullable=False),
    sa.Column("status", sa.String(4), nullable=False),  # 速報/確報/確定
)

# 発電量: the 30-minute generation of points with grid-connected generation, as legacy 託送 systems keep it:
# keyed by its natural key (供給地点特定番号, 計量日, コマ), with no surrogate id.
generation_reading_30min = sa.Table(
    "generation_reading_30min",
    metadata,
    sa.Column("supply_point_id", sa.String(22), sa.ForeignKey(_sp), primary_key=True),
    sa.Column("reading_date", sa.Date, primary_key=True),
    sa.Column("slot", sa.SmallInteger, primary_key=True, autoincrement=False),  # 1–48
    sa.Column("kwh_generated", sa.Numeric(9, 3), nullable=False),
    sa.Column("kwh_exported", sa.Numeric(9, 3), nullable=False),
)

contact_history = sa.Table(
    "contact_history",
    metadata,
    sa.Column("contact_id", sa.Integer, primary_key=True, autoincrement=False),
    _spid(),
    sa.Column("contact_date", sa.Date, nullable=False),
    sa.Column("department", sa.String(4), nullable=False),  # NW / 小売: both departments write here
    sa.Column("staff_name", sa.String(20), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("memo", _text, nullable=False),
)

work_order = sa.Table(
    "work_order",
    metadata,
    sa.Column("work_order_id", sa.Integer, primary_key=True, autoincrement=False),
    _spid(),
    sa.Column("created_on", sa.Date, nullable=False),
    sa.Column("category", sa.String(20), nullable=False),
    sa.Column("crew_memo", _text, nullable=False),
)

fit_contract = sa.Table(
    "fit_contract",
    metadata,
    sa.Column("fit_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("receiving_point_id", sa.String(22), nullable=False),  # 受電地点特定番号
    sa.Column("generator_owner", sa.String(40), nullable=False),
    sa.Column("generator_capacity_kw", sa.Numeric(8, 1), nullable=False),  # 発電機出力
    sa.Column("fuel_type", sa.String(10), nullable=False),
    sa.Column("fit_start_date", sa.Date, nullable=False),  # 固定価格買取制度開始時期
    sa.Column("buyback_price_yen", sa.Numeric(6, 2), nullable=False),
    sa.Column("certification_id", sa.String(12), nullable=False),
)

retail_account = sa.Table(
    "retail_account",
    metadata,
    sa.Column("account_no", sa.String(12), primary_key=True),
    _spid(),
    sa.Column("plan_name", sa.String(30), nullable=False),
    sa.Column("payment_method", sa.String(10), nullable=False),
    sa.Column("marketing_consent", sa.Boolean, nullable=False),
    sa.Column("note", _text),
)

access_log = sa.Table(
    "access_log",
    metadata,
    sa.Column("log_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.String(10), nullable=False),
    sa.Column("organisation", sa.String(10), nullable=False),  # NW / RETAIL
    sa.Column("supply_point_id", sa.String(22), nullable=False),
    sa.Column("viewed_at", sa.DateTime, nullable=False),
    sa.Column("screen", sa.String(30), nullable=False),
)

# Insert order: parents before children (foreign keys).
TABLES = [
    area,
    retailer,
    supply_point,
    meter,
    wheeling_contract,
    supply_period,
    customer_party,
    switching_request,
    monthly_usage,
    interval_reading_30min,
    generation_reading_30min,
    contact_history,
    work_order,
    fit_contract,
    retail_account,
    access_log,
]
