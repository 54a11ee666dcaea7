-- App accounts used from 3+ visitor IDs (devices) or 5+ IPs on the day: account sharing or takeover candidates.
SELECT
    row_number() OVER (ORDER BY count(DISTINCT visitor_id) DESC, count(DISTINCT ip) DESC, account_id) AS rank,
    account_id,
    count(*) AS requests,
    count(DISTINCT visitor_id) AS unique_visitors,
    count(DISTINCT ip) AS unique_ips,
    count(DISTINCT ip_country_code) AS unique_countries,
    string_agg(DISTINCT ip_country_code, ',' ORDER BY ip_country_code) AS countries,
    count(*) FILTER (WHERE outcome = 'failure') AS failures,
    count(*) FILTER (WHERE suspicious) AS suspicious_requests,
    min(occurred_at) AS first_at,
    max(occurred_at) AS last_at
FROM app_requests_enriched
WHERE day = $day AND account_id IS NOT NULL
GROUP BY account_id
HAVING count(DISTINCT visitor_id) >= 3 OR count(DISTINCT ip) >= 5
ORDER BY rank;
