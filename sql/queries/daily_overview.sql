-- Per day: logged requests, fetch outcomes, unique visitors and the share of bot / VPN / proxy / tor traffic (from daily_metrics).
SELECT
    day, requests, fetched_ok, not_found, unique_visitors,
    round(bot_rate, 3) AS bot_rate, round(vpn_rate, 3) AS vpn_rate,
    round(proxy_rate, 3) AS proxy_rate, round(tor_rate, 3) AS tor_rate
FROM daily_metrics
ORDER BY day;
