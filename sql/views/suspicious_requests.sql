-- Events that fire at least one transparent risk rule, with the names of the rules that fired.
-- Each rule is one line below; a rule fires on a signal the API reports, never on a score we invent.
-- Developer tools alone are not a rule: many legitimate users have them open (column `developer_tools`
-- of the events table, for anyone who wants it).
CREATE OR REPLACE VIEW suspicious_requests AS
WITH rules AS (
    SELECT
        e.day,
        e.request_id,
        e.visitor_id,
        e.timestamp,
        e.ip,
        e.ip_v4_country_code AS ip_country_code,
        e.ip_v4_asn AS ip_asn,
        e.linked_id,
        e.suspect_score,
        list_filter([
            CASE WHEN e.bot_result = 'bad' THEN 'bot_detected' END,
            CASE WHEN e.tampering THEN 'tampering' END,
            CASE WHEN e.tampering_anti_detect_browser THEN 'anti_detect_browser' END,
            CASE WHEN e.vpn AND e.vpn_method_timezone_mismatch THEN 'vpn_timezone_mismatch' END,
            CASE WHEN e.tor THEN 'tor' END,
            CASE WHEN e.proxy AND e.proxy_confidence = 'high' THEN 'proxy_high_confidence' END,
            CASE WHEN e.ip_v4_datacenter THEN 'datacenter_ip' END,
            CASE WHEN e.ip_blocklist THEN 'ip_blocklist' END,
            CASE WHEN e.replayed THEN 'replayed' END,
            CASE WHEN e.virtual_machine THEN 'virtual_machine' END,
            CASE WHEN e.emulator THEN 'emulator' END,
            CASE WHEN e.frida THEN 'frida_instrumentation' END,
            CASE WHEN e.mitm_attack THEN 'mitm_attack' END,
            CASE WHEN e.location_spoofing THEN 'location_spoofing' END,
            CASE WHEN coalesce(v.distinct_ip_1h, 0) >= 5 OR coalesce(v.events_5m, 0) >= 50
                OR coalesce(v.ip_events_5m, 0) >= 100 THEN 'high_velocity' END
        ], lambda r: r IS NOT NULL) AS rules_fired -- Names of the rules the event fires (see the rules above).
    FROM events AS e
    LEFT JOIN velocity_wide AS v ON v.request_id = e.request_id AND v.day = e.day
)
SELECT *, len(rules_fired) AS rule_count -- How many rules the event fires.
FROM rules
WHERE len(rules_fired) > 0;
