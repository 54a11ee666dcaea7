-- The day's headline numbers, each defined here and nowhere else: logged traffic, fetch outcomes, visitors, accounts and risk rates.
CREATE OR REPLACE VIEW daily_metrics AS
WITH logged AS (
    SELECT
        day,
        count(*) AS requests,
        count(DISTINCT request_id) AS request_ids,
        count(DISTINCT app_user_id) AS unique_accounts,
        count(*) FILTER (WHERE action = 'login') AS logins,
        count(*) FILTER (WHERE action = 'login' AND outcome = 'failure') AS failed_logins
    FROM app_requests
    GROUP BY day
),
outcomes AS (
    SELECT
        a.day,
        count(*) FILTER (WHERE f.outcome = 'ok') AS fetched_ok,
        count(*) FILTER (WHERE f.outcome = 'not_found') AS not_found,
        count(*) FILTER (WHERE f.outcome = 'failed') AS failed,
        count(*) FILTER (WHERE f.outcome IS NULL) AS not_fetched
    FROM (SELECT DISTINCT day, request_id FROM app_requests) AS a
    LEFT JOIN fetches_latest AS f ON f.day = a.day AND f.request_id = a.request_id
    GROUP BY a.day
),
risk AS (
    SELECT
        day,
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
    GROUP BY day
)
SELECT
    l.day,
    l.requests, -- Log occurrences of a request ID (a retried request counts once per line).
    l.request_ids, -- Distinct request IDs logged.
    coalesce(r.events, 0) AS events, -- The day's events in the warehouse (rows of `events`): the logged IDs fetched `ok`, plus unlogged ones that arrived by webhook or, with FPWH_SEARCH_KEEP=all, by search.
    coalesce(r.unique_visitors, 0) AS unique_visitors, -- Distinct Fingerprint visitor IDs (devices) among the day's `events`.
    l.unique_accounts, -- Distinct app accounts: the user IDs the application logged (never the event's linked ID).
    l.logins, -- Log lines whose action is `login`.
    l.failed_logins, -- `login` lines whose outcome is `failure`.
    o.fetched_ok, -- Logged request IDs whose final fetch outcome is `ok`.
    o.not_found, -- Logged request IDs the API does not know (`not_found`: typo, other workspace, expired, deleted).
    o.failed, -- Logged request IDs whose fetch failed after every retry (retried by later runs).
    o.not_fetched, -- Logged request IDs without any fetch outcome yet.
    o.fetched_ok / l.request_ids AS ok_rate, -- fetched_ok / request_ids (0..1).
    o.not_found / l.request_ids AS not_found_rate, -- not_found / request_ids (0..1).
    o.failed / l.request_ids AS failed_rate, -- failed / request_ids (0..1); the blocking check trips above FPWH_MAX_FAILED_RATE.
    r.bot_rate, -- Share of the fetched events with a bad bot detected; denominator: fetched events whose bot detection ran (NULL: none did).
    r.vpn_rate, -- Share of the fetched events through a VPN; denominator: fetched events whose VPN detection ran.
    r.proxy_rate, -- Share of the fetched events through a proxy; denominator: fetched events whose proxy detection ran.
    r.tor_rate, -- Share of the fetched events from a Tor exit node; denominator: fetched events whose Tor detection ran.
    r.incognito_rate, -- Share of the fetched events in incognito mode; denominator: fetched events whose incognito detection ran (web).
    r.tampering_rate, -- Share of the fetched events from a tampered or anti-detect browser; denominator: fetched events whose tampering detection ran.
    r.suspicious_rate -- Share of the fetched events in `suspicious_requests` (at least one rule fired); denominator: every fetched event.
FROM logged AS l
LEFT JOIN outcomes AS o ON o.day = l.day
LEFT JOIN risk AS r ON r.day = l.day;
