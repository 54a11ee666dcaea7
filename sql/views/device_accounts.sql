-- Accounts per device, per day: every visitor ID (device) with the app accounts, IPs and countries its logged requests came with.
CREATE OR REPLACE VIEW device_accounts AS
SELECT
    day,
    visitor_id, -- Fingerprint visitor ID (device).
    count(*) AS requests, -- Log occurrences whose event carries this visitor ID.
    count(DISTINCT app_user_id) AS unique_accounts, -- Distinct app accounts the application logged for this device (never linked IDs).
    count(DISTINCT ip) AS unique_ips, -- Distinct client IPs of its events.
    count(DISTINCT ip_country_code) AS unique_countries, -- Distinct IP countries of its events.
    count(*) FILTER (WHERE outcome = 'failure') AS failures, -- Log lines whose outcome is `failure` (e.g. failed logins).
    bool_or(bot_result = 'bad') AS bot_detected, -- At least one of its events had a bad bot detected.
    count(*) FILTER (WHERE suspicious) AS suspicious_requests, -- Log lines whose event is in `suspicious_requests`.
    min(occurred_at) AS first_at, -- First log line of the day (UTC).
    max(occurred_at) AS last_at -- Last log line of the day (UTC).
FROM app_requests_enriched
WHERE visitor_id IS NOT NULL
GROUP BY day, visitor_id;
