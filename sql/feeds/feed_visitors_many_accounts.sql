-- Visitor IDs (devices) that used 3+ app accounts or 5+ IPs on the day: credential stuffing or multi-accounting candidates.
SELECT
    row_number() OVER (ORDER BY unique_accounts DESC, unique_ips DESC, visitor_id) AS rank, -- 1 = the device with the most accounts on the day, then IPs; ties broken by ID.
    visitor_id, requests, unique_accounts, unique_ips, unique_countries, failures, bot_detected, suspicious_requests,
    first_at, last_at
FROM device_accounts
WHERE day = $day AND (unique_accounts >= 3 OR unique_ips >= 5)
ORDER BY rank;
