-- Visitor IDs (devices) that used 3+ app accounts or 5+ IPs on the day: credential stuffing or multi-accounting candidates.
SELECT
    row_number() OVER (ORDER BY count(DISTINCT account_id) DESC, count(DISTINCT ip) DESC, visitor_id) AS rank,
    visitor_id,
    count(*) AS requests,
    count(DISTINCT account_id) AS unique_accounts,
    count(DISTINCT ip) AS unique_ips,
    count(DISTINCT ip_country_code) AS unique_countries,
    count(*) FILTER (WHERE outcome = 'failure') AS failures,
    bool_or(bot_result = 'bad') AS bot_detected,
    count(*) FILTER (WHERE suspicious) AS suspicious_requests,
    min(occurred_at) AS first_at,
    max(occurred_at) AS last_at
FROM app_requests_enriched
WHERE day = $day AND visitor_id IS NOT NULL
GROUP BY visitor_id
HAVING count(DISTINCT account_id) >= 3 OR count(DISTINCT ip) >= 5
ORDER BY rank;
