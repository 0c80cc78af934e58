-- bunkatsu plan eccf646cc1c54e7d1f2aa930f748f904b8b577a29898d4af544747e415eefc8e
-- mapping <mapping> sha256 543cf3528847cbc85007444b9f4eedf0579757e4462f72003c0241c411735bde
-- source dialect sqlite

-- 1. area → nw (wave masters; scope all)
SELECT area.area_code, area.area_name, area.nw_company_name 
FROM area ORDER BY area.area_code;

-- 1. area → retail (wave masters; scope all)
SELECT area.area_code, area.area_name, area.nw_company_name 
FROM area ORDER BY area.area_code;

-- 2. retailer → nw (wave masters; scope all)
SELECT retailer.retailer_code, retailer.registration_no, retailer.name, retailer.corporate_number, retailer.is_affiliated 
FROM retailer ORDER BY retailer.retailer_code;

-- 2. retailer → retail (wave masters; scope all)
SELECT retailer.retailer_code, retailer.registration_no, retailer.name, retailer.corporate_number, retailer.is_affiliated 
FROM retailer ORDER BY retailer.retailer_code;

-- 3. supply_period → nw (wave contracts; scope all)
SELECT supply_period.period_id, supply_period.supply_point_id, supply_period.retailer_code, supply_period.wheeling_contract_id, supply_period.start_date, supply_period.end_date 
FROM supply_period ORDER BY supply_period.period_id;

-- 3. supply_period → retail (wave contracts; scope own: retailer_code)
SELECT supply_period.period_id, supply_period.supply_point_id, supply_period.retailer_code, supply_period.wheeling_contract_id, supply_period.start_date, supply_period.end_date 
FROM supply_period 
WHERE supply_period.retailer_code IN ('00016') ORDER BY supply_period.period_id;

-- 4. wheeling_contract → nw (wave contracts; scope all)
SELECT wheeling_contract.wheeling_contract_id, wheeling_contract.supply_point_id, wheeling_contract.retailer_code, wheeling_contract.bg_code, wheeling_contract.service_menu, wheeling_contract.contract_amount, wheeling_contract.contract_unit, wheeling_contract.power_factor, wheeling_contract.status, wheeling_contract.start_date, wheeling_contract.end_date, wheeling_contract.retail_contract_no 
FROM wheeling_contract ORDER BY wheeling_contract.wheeling_contract_id;

-- 4. wheeling_contract → retail (wave contracts; scope own: retailer_code)
SELECT wheeling_contract.wheeling_contract_id, wheeling_contract.supply_point_id, wheeling_contract.retailer_code, wheeling_contract.bg_code, wheeling_contract.service_menu, wheeling_contract.contract_amount, wheeling_contract.contract_unit, wheeling_contract.power_factor, wheeling_contract.status, wheeling_contract.start_date, wheeling_contract.end_date, wheeling_contract.retail_contract_no 
FROM wheeling_contract 
WHERE wheeling_contract.retailer_code IN ('00016') ORDER BY wheeling_contract.wheeling_contract_id;

-- 5. supply_point → nw (wave contracts; scope all)
SELECT supply_point.supply_point_id, supply_point.area_code, supply_point.voltage_class, supply_point.contract_type, supply_point.postal_code, supply_point.premises_address, supply_point.supply_method, supply_point.service_pole_no, supply_point.meter_reading_day, supply_point.has_grid_connected_gen, supply_point.substation_id, supply_point.feeder_id, supply_point.transformer_id 
FROM supply_point ORDER BY supply_point.supply_point_id;

-- 5. supply_point → retail (wave contracts; scope follow: supply_period on supply_point_id)
SELECT supply_point.supply_point_id, supply_point.area_code, supply_point.voltage_class, supply_point.contract_type, supply_point.postal_code, supply_point.premises_address, supply_point.supply_method, supply_point.service_pole_no, supply_point.meter_reading_day, supply_point.has_grid_connected_gen 
FROM supply_point 
WHERE EXISTS (SELECT 1 
FROM supply_period AS p1 
WHERE p1.supply_point_id = supply_point.supply_point_id AND p1.retailer_code IN ('00016')) ORDER BY supply_point.supply_point_id;

-- 6. meter → nw (wave contracts; scope all)
SELECT meter.meter_no, meter.supply_point_id, meter.meter_kind, meter.smart_flag, meter.install_date, meter.comm_route, meter.comm_module_id 
FROM meter ORDER BY meter.meter_no;

-- 6. meter → retail (wave contracts; scope follow: supply_point on supply_point_id)
SELECT meter.meter_no, meter.supply_point_id, meter.meter_kind, meter.smart_flag, meter.install_date 
FROM meter 
WHERE EXISTS (SELECT 1 
FROM supply_point AS p1 
WHERE p1.supply_point_id = meter.supply_point_id AND (EXISTS (SELECT 1 
FROM supply_period AS p2 
WHERE p2.supply_point_id = p1.supply_point_id AND p2.retailer_code IN ('00016')))) ORDER BY meter.meter_no;

-- 7. customer_party → nw (wave contracts; scope all)
SELECT customer_party.party_id, customer_party.supply_point_id, customer_party.registered_on, customer_party.contract_name, customer_party.name_kana, customer_party.phone, customer_party.email, customer_party.billing_address, customer_party.memo, customer_party.ledger_ref 
FROM customer_party ORDER BY customer_party.party_id;

-- 7. customer_party → retail (wave contracts; scope follow: supply_period on supply_point_id at registered_on)
--   ledger_ref: encoded in transit as HMAC-SHA256 token (key from BUNKATSU_ENCODE_KEY)
SELECT customer_party.party_id, customer_party.supply_point_id, customer_party.registered_on, customer_party.contract_name, customer_party.name_kana, customer_party.phone, customer_party.email, customer_party.billing_address, customer_party.ledger_ref 
FROM customer_party 
WHERE EXISTS (SELECT 1 
FROM supply_period AS p1 
WHERE p1.supply_point_id = customer_party.supply_point_id AND p1.start_date <= customer_party.registered_on AND (p1.end_date IS NULL OR customer_party.registered_on <= p1.end_date) AND p1.retailer_code IN ('00016')) ORDER BY customer_party.party_id;

-- 8. switching_request → nw (wave contracts; scope all)
SELECT switching_request.request_id, switching_request.supply_point_id, switching_request.request_type, switching_request.from_retailer_code, switching_request.to_retailer_code, switching_request.requested_date, switching_request.switch_date 
FROM switching_request ORDER BY switching_request.request_id;

-- 8. switching_request → retail (wave contracts; scope own: to_retailer_code)
SELECT switching_request.request_id, switching_request.supply_point_id, switching_request.request_type, switching_request.to_retailer_code, switching_request.requested_date, switching_request.switch_date 
FROM switching_request 
WHERE switching_request.to_retailer_code IN ('00016') ORDER BY switching_request.request_id;

-- 9. monthly_usage → nw (wave usage; scope all)
SELECT monthly_usage.usage_id, monthly_usage.supply_point_id, monthly_usage.usage_month, monthly_usage.kwh, monthly_usage.max_demand_kw, monthly_usage.power_factor 
FROM monthly_usage ORDER BY monthly_usage.usage_id;

-- 9. monthly_usage → retail (wave usage; scope follow: supply_period on supply_point_id at usage_month)
SELECT monthly_usage.usage_id, monthly_usage.supply_point_id, monthly_usage.usage_month, monthly_usage.kwh, monthly_usage.max_demand_kw, monthly_usage.power_factor 
FROM monthly_usage 
WHERE EXISTS (SELECT 1 
FROM supply_period AS p1 
WHERE p1.supply_point_id = monthly_usage.supply_point_id AND p1.start_date <= monthly_usage.usage_month AND (p1.end_date IS NULL OR monthly_usage.usage_month <= p1.end_date) AND p1.retailer_code IN ('00016')) ORDER BY monthly_usage.usage_id;

-- 10. interval_reading_30min → nw (wave usage; scope all)
--   partitions by reading_id, each adds `AND reading_id >= lo AND reading_id < hi`: [-∞, 19201), [19201, +∞)
SELECT interval_reading_30min.reading_id, interval_reading_30min.supply_point_id, interval_reading_30min.reading_date, interval_reading_30min.slot, interval_reading_30min.kwh_import, interval_reading_30min.kwh_export, interval_reading_30min.status 
FROM interval_reading_30min ORDER BY interval_reading_30min.reading_id;

-- 10. interval_reading_30min → retail (wave usage; scope follow: supply_period on supply_point_id at reading_date)
--   partitions by reading_id, each adds `AND reading_id >= lo AND reading_id < hi`: [-∞, 19201), [19201, +∞)
SELECT interval_reading_30min.reading_id, interval_reading_30min.supply_point_id, interval_reading_30min.reading_date, interval_reading_30min.slot, interval_reading_30min.kwh_import, interval_reading_30min.kwh_export, interval_reading_30min.status 
FROM interval_reading_30min 
WHERE EXISTS (SELECT 1 
FROM supply_period AS p1 
WHERE p1.supply_point_id = interval_reading_30min.supply_point_id AND p1.start_date <= interval_reading_30min.reading_date AND (p1.end_date IS NULL OR interval_reading_30min.reading_date <= p1.end_date) AND p1.retailer_code IN ('00016')) ORDER BY interval_reading_30min.reading_id;

-- 11. generation_reading_30min → nw (wave usage; scope all)
--   partitions by (supply_point_id, reading_date, slot), each adds `AND (supply_point_id, reading_date, slot) >= lo AND (supply_point_id, reading_date, slot) < hi`: [-∞, (0610000000000001395526, 2024-11-29, 1)), [(0610000000000001395526, 2024-11-29, 1), +∞)
SELECT generation_reading_30min.supply_point_id, generation_reading_30min.reading_date, generation_reading_30min.slot, generation_reading_30min.kwh_generated, generation_reading_30min.kwh_exported 
FROM generation_reading_30min ORDER BY generation_reading_30min.supply_point_id COLLATE BINARY, generation_reading_30min.reading_date, generation_reading_30min.slot;

-- 11. generation_reading_30min → retail (wave usage; scope follow: supply_period on supply_point_id at reading_date)
--   partitions by (supply_point_id, reading_date, slot), each adds `AND (supply_point_id, reading_date, slot) >= lo AND (supply_point_id, reading_date, slot) < hi`: [-∞, (0610000000000001395526, 2024-11-29, 1)), [(0610000000000001395526, 2024-11-29, 1), +∞)
SELECT generation_reading_30min.supply_point_id, generation_reading_30min.reading_date, generation_reading_30min.slot, generation_reading_30min.kwh_generated, generation_reading_30min.kwh_exported 
FROM generation_reading_30min 
WHERE EXISTS (SELECT 1 
FROM supply_period AS p1 
WHERE p1.supply_point_id = generation_reading_30min.supply_point_id AND p1.start_date <= generation_reading_30min.reading_date AND (p1.end_date IS NULL OR generation_reading_30min.reading_date <= p1.end_date) AND p1.retailer_code IN ('00016')) ORDER BY generation_reading_30min.supply_point_id COLLATE BINARY, generation_reading_30min.reading_date, generation_reading_30min.slot;

-- 12. contact_history → nw (wave usage; scope all)
SELECT contact_history.contact_id, contact_history.supply_point_id, contact_history.contact_date, contact_history.department, contact_history.staff_name, contact_history.channel, contact_history.memo 
FROM contact_history ORDER BY contact_history.contact_id;

-- 12. contact_history → retail (wave usage; scope follow: supply_period on supply_point_id at contact_date)
SELECT contact_history.contact_id, contact_history.supply_point_id, contact_history.contact_date, contact_history.department, contact_history.channel, contact_history.memo 
FROM contact_history 
WHERE EXISTS (SELECT 1 
FROM supply_period AS p1 
WHERE p1.supply_point_id = contact_history.supply_point_id AND p1.start_date <= contact_history.contact_date AND (p1.end_date IS NULL OR contact_history.contact_date <= p1.end_date) AND p1.retailer_code IN ('00016')) ORDER BY contact_history.contact_id;

-- 13. work_order → nw (wave nw_only; scope all)
SELECT work_order.work_order_id, work_order.supply_point_id, work_order.created_on, work_order.category, work_order.crew_memo 
FROM work_order ORDER BY work_order.work_order_id;

-- 14. fit_contract → nw (wave nw_only; scope all)
SELECT fit_contract.fit_id, fit_contract.receiving_point_id, fit_contract.generator_owner, fit_contract.generator_capacity_kw, fit_contract.fuel_type, fit_contract.fit_start_date, fit_contract.buyback_price_yen, fit_contract.certification_id 
FROM fit_contract ORDER BY fit_contract.fit_id;

-- 15. access_log → nw (wave nw_only; scope all)
SELECT access_log.log_id, access_log.user_id, access_log.organisation, access_log.supply_point_id, access_log.viewed_at, access_log.screen 
FROM access_log ORDER BY access_log.log_id;

-- 16. retail_account → retail (wave retail_only; scope all)
SELECT retail_account.account_no, retail_account.supply_point_id, retail_account.plan_name, retail_account.payment_method, retail_account.marketing_consent, retail_account.note 
FROM retail_account ORDER BY retail_account.account_no;

