-- App accounts used from 3+ visitor IDs (devices) or 5+ IPs on the day: account sharing or takeover candidates.
SELECT
    row_number() OVER (ORDER BY unique_visitors DESC, unique_ips DESC, account_id) AS rank, -- 1 = the account with the most devices on the day, then IPs; ties broken by ID.
    account_id, requests, unique_visitors, unique_ips, unique_countries, countries, failures, suspicious_requests,
    first_at, last_at
FROM account_devices
WHERE day = $day AND (unique_visitors >= 3 OR unique_ips >= 5)
ORDER BY rank;
