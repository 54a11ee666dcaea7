-- One row per visitor over every day in the warehouse: when and how often seen, from where, as which accounts, and how risky.
CREATE OR REPLACE VIEW visitor_profile AS
WITH accounts AS (
    SELECT day, request_id, list(DISTINCT app_user_id) AS app_user_ids
    FROM app_requests
    WHERE app_user_id IS NOT NULL
    GROUP BY day, request_id
)
SELECT
    e.visitor_id,
    min(e.timestamp) AS first_seen,
    max(e.timestamp) AS last_seen,
    min(e.first_seen_at) AS fingerprint_first_seen_at,
    count(DISTINCT e.day) AS days_seen,
    count(*) AS requests,
    count(DISTINCT e.ip) AS distinct_ips,
    count(DISTINCT e.ip_v4_country_code) AS distinct_countries,
    list_sort(list_filter(list(DISTINCT e.ip_v4_country_code), lambda x: x IS NOT NULL)) AS countries,
    list_sort(list_filter(list(DISTINCT e.linked_id), lambda x: x IS NOT NULL)) AS linked_ids,
    list_sort(list_distinct(flatten(list(a.app_user_ids)))) AS app_user_ids,
    list_sort(list_filter(list(DISTINCT e.browser_name), lambda x: x IS NOT NULL)) AS browsers,
    list_sort(list_filter(list(DISTINCT e.sdk_platform), lambda x: x IS NOT NULL)) AS platforms,
    avg(CAST(e.bot_result = 'bad' AS DOUBLE)) AS bot_share,
    avg(CAST(e.vpn AS DOUBLE)) AS vpn_share,
    avg(CAST(e.proxy AS DOUBLE)) AS proxy_share,
    avg(CAST(e.tor AS DOUBLE)) AS tor_share,
    avg(CAST(e.tampering AS DOUBLE)) AS tampering_share,
    avg(CAST(e.incognito AS DOUBLE)) AS incognito_share,
    avg(CAST(s.request_id IS NOT NULL AS DOUBLE)) AS suspicious_share,
    max(e.suspect_score) AS max_suspect_score
FROM events AS e
LEFT JOIN accounts AS a ON a.request_id = e.request_id AND a.day = e.day
LEFT JOIN suspicious_requests AS s ON s.request_id = e.request_id AND s.day = e.day
WHERE e.visitor_id IS NOT NULL
GROUP BY e.visitor_id;
