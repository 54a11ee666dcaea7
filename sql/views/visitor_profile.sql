-- One row per visitor over every day in the warehouse: when and how often seen, from where, as which accounts, and how risky.
CREATE OR REPLACE VIEW visitor_profile AS
WITH accounts AS (
    SELECT day, request_id, list(DISTINCT app_user_id) AS app_user_ids
    FROM app_requests
    WHERE app_user_id IS NOT NULL
    GROUP BY day, request_id
)
SELECT
    e.visitor_id, -- Fingerprint visitor ID (device).
    min(e.timestamp) AS first_seen, -- Its first event in the warehouse.
    max(e.timestamp) AS last_seen, -- Its last event in the warehouse.
    min(e.first_seen_at) AS fingerprint_first_seen_at, -- When Fingerprint first saw it (workspace).
    count(DISTINCT e.day) AS days_seen, -- Days with at least one of its events.
    count(*) AS requests, -- Its fetched events.
    count(DISTINCT e.ip) AS distinct_ips, -- Distinct client IPs of its events.
    count(DISTINCT e.ip_v4_country_code) AS distinct_countries, -- Distinct IP countries of its events.
    list_sort(list_filter(list(DISTINCT e.ip_v4_country_code), lambda x: x IS NOT NULL)) AS countries, -- Its IP countries, sorted.
    list_sort(list_filter(list(DISTINCT e.linked_id), lambda x: x IS NOT NULL)) AS linked_ids, -- The linked IDs its events carried (set by the page, e.g. an order or account ID).
    list_sort(list_distinct(flatten(list(a.app_user_ids)))) AS app_user_ids, -- The app accounts the application logged with its events.
    list_sort(list_filter(list(DISTINCT e.browser_name), lambda x: x IS NOT NULL)) AS browsers, -- Browser names.
    list_sort(list_filter(list(DISTINCT e.sdk_platform), lambda x: x IS NOT NULL)) AS platforms, -- SDK platforms (js, android, ios).
    avg(CAST(r.bot AS DOUBLE)) AS bot_share, -- Share of its events with a bad bot detected (denominator: events whose bot detection ran).
    avg(CAST(r.vpn AS DOUBLE)) AS vpn_share, -- Share of its events through a VPN (denominator: events whose VPN detection ran).
    avg(CAST(r.proxy AS DOUBLE)) AS proxy_share, -- Share of its events through a proxy (denominator: events whose proxy detection ran).
    avg(CAST(r.tor AS DOUBLE)) AS tor_share, -- Share of its events from Tor (denominator: events whose Tor detection ran).
    avg(CAST(r.tampering AS DOUBLE)) AS tampering_share, -- Share of its events from a tampered browser (denominator: events whose tampering detection ran).
    avg(CAST(r.incognito AS DOUBLE)) AS incognito_share, -- Share of its events in incognito mode (denominator: events whose incognito detection ran).
    avg(CAST(r.suspicious AS DOUBLE)) AS suspicious_share, -- Share of its events in `suspicious_requests` (denominator: all its events).
    max(e.suspect_score) AS max_suspect_score -- Highest Suspect Score of its events.
FROM events AS e
JOIN event_risk AS r ON r.request_id = e.request_id AND r.day = e.day
LEFT JOIN accounts AS a ON a.request_id = e.request_id AND a.day = e.day
WHERE e.visitor_id IS NOT NULL
GROUP BY e.visitor_id;
