-- One row per IP country for the day (`unknown` when not geolocated): events, visitors and risk rates, ranked by events.
WITH scored AS (
    SELECT
        coalesce(e.ip_v4_country_code, 'unknown') AS country_code,
        g.country_name,
        e.visitor_id,
        e.bot_result = 'bad' AS bot,
        e.vpn,
        e.proxy,
        e.tor,
        e.tampering,
        s.request_id IS NOT NULL AS suspicious
    FROM events AS e
    LEFT JOIN ip_info AS g ON g.request_id = e.request_id AND g.day = e.day AND g.ip_version = 'v4'
    LEFT JOIN suspicious_requests AS s ON s.request_id = e.request_id AND s.day = e.day
    WHERE e.day = $day
)
SELECT
    row_number() OVER (ORDER BY count(*) DESC, country_code) AS rank,
    country_code,
    max(country_name) AS country_name,
    count(*) AS events,
    count(DISTINCT visitor_id) AS unique_visitors,
    count(*) / sum(count(*)) OVER () AS share_of_events,
    avg(CAST(bot AS DOUBLE)) AS bot_rate,
    avg(CAST(vpn AS DOUBLE)) AS vpn_rate,
    avg(CAST(proxy AS DOUBLE)) AS proxy_rate,
    avg(CAST(tor AS DOUBLE)) AS tor_rate,
    avg(CAST(tampering AS DOUBLE)) AS tampering_rate,
    avg(CAST(suspicious AS DOUBLE)) AS suspicious_rate
FROM scored
GROUP BY country_code
ORDER BY rank;
