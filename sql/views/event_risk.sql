-- One row per fetched event with its IP geography and the risk flags the feeds and dashboards aggregate.
CREATE OR REPLACE VIEW event_risk AS
SELECT
    e.day,
    e.request_id,
    e.visitor_id,
    e.ip_v4_country_code AS ip_country_code,
    g.country_name AS ip_country_name,
    e.ip_v4_asn AS ip_asn,
    e.ip_v4_asn_name AS ip_asn_name,
    g.asn_type AS ip_asn_type,
    e.ip_v4_datacenter AS ip_datacenter,
    e.bot_result = 'bad' AS bot, -- A bad bot was detected (`bot_result = 'bad'`).
    e.vpn,
    e.proxy,
    e.tor,
    e.incognito,
    e.tampering,
    s.request_id IS NOT NULL AS suspicious -- The event fires at least one rule of `suspicious_requests`.
FROM events AS e
LEFT JOIN ip_info AS g ON g.request_id = e.request_id AND g.day = e.day AND g.ip_version = 'v4'
LEFT JOIN suspicious_requests AS s ON s.request_id = e.request_id AND s.day = e.day;
