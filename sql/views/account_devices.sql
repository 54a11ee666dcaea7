-- Devices per account, per day: every app account the application logged, with the visitor IDs (devices), IPs and countries it came from.
CREATE OR REPLACE VIEW account_devices AS
SELECT
    day,
    account_id, -- App account: the user ID the application logged (never the event's linked ID).
    count(*) AS requests, -- Log occurrences of the account.
    count(DISTINCT visitor_id) AS unique_visitors, -- Distinct visitor IDs (devices) of its fetched events.
    count(DISTINCT ip) AS unique_ips, -- Distinct client IPs of its events.
    count(DISTINCT ip_country_code) AS unique_countries, -- Distinct IP countries of its events.
    string_agg(DISTINCT ip_country_code, ',' ORDER BY ip_country_code) AS countries, -- The IP countries, comma-separated, sorted.
    count(*) FILTER (WHERE outcome = 'failure') AS failures, -- Log lines whose outcome is `failure` (e.g. failed logins).
    count(*) FILTER (WHERE suspicious) AS suspicious_requests, -- Log lines whose event is in `suspicious_requests`.
    min(occurred_at) AS first_at, -- First log line of the day (UTC).
    max(occurred_at) AS last_at -- Last log line of the day (UTC).
FROM app_requests_enriched
WHERE account_id IS NOT NULL
GROUP BY day, account_id;
