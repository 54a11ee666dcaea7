-- One row for the day: logged requests, unique visitors and accounts, and the share of fetched events with each risk signal.
SELECT
    requests, request_ids, events, unique_visitors, unique_accounts, logins, failed_logins,
    bot_rate, vpn_rate, proxy_rate, tor_rate, incognito_rate, tampering_rate, suspicious_rate
FROM daily_metrics
WHERE day = $day;
