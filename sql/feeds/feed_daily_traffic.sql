-- One row for the day: logged requests, unique visitors and accounts, and the share of fetched events with each risk signal.
WITH logged AS (
    SELECT
        count(*) AS requests,
        count(DISTINCT request_id) AS request_ids,
        count(DISTINCT account_id) AS unique_accounts,
        count(*) FILTER (WHERE action = 'login') AS logins,
        count(*) FILTER (WHERE action = 'login' AND outcome = 'failure') AS failed_logins
    FROM app_requests_enriched
    WHERE day = $day
),
fetched AS (
    SELECT
        count(*) AS events,
        count(DISTINCT visitor_id) AS unique_visitors,
        avg(CAST(bot AS DOUBLE)) AS bot_rate,
        avg(CAST(vpn AS DOUBLE)) AS vpn_rate,
        avg(CAST(proxy AS DOUBLE)) AS proxy_rate,
        avg(CAST(tor AS DOUBLE)) AS tor_rate,
        avg(CAST(incognito AS DOUBLE)) AS incognito_rate,
        avg(CAST(tampering AS DOUBLE)) AS tampering_rate,
        avg(CAST(suspicious AS DOUBLE)) AS suspicious_rate
    FROM event_risk
    WHERE day = $day
)
SELECT
    l.requests, l.request_ids, f.events, f.unique_visitors, l.unique_accounts, l.logins, l.failed_logins,
    f.bot_rate, f.vpn_rate, f.proxy_rate, f.tor_rate, f.incognito_rate, f.tampering_rate, f.suspicious_rate
FROM logged AS l, fetched AS f;
