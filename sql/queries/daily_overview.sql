-- Per day: logged requests, fetch outcomes, unique visitors and the share of bot / VPN / proxy / tor traffic.
SELECT
    day,
    count(*) AS requests,
    count(*) FILTER (WHERE fetch_outcome = 'ok') AS fetched_ok,
    count(*) FILTER (WHERE fetch_outcome = 'not_found') AS not_found,
    count(DISTINCT visitor_id) AS visitors,
    round(avg(CASE WHEN bot_result = 'bad' THEN 1 ELSE 0 END) FILTER (WHERE fetch_outcome = 'ok'), 3) AS bot_rate,
    round(avg(vpn::INT) FILTER (WHERE fetch_outcome = 'ok'), 3) AS vpn_rate,
    round(avg(proxy::INT) FILTER (WHERE fetch_outcome = 'ok'), 3) AS proxy_rate,
    round(avg(tor::INT) FILTER (WHERE fetch_outcome = 'ok'), 3) AS tor_rate
FROM app_requests_enriched
GROUP BY day
ORDER BY day;
