-- One row per IP country for the day (`unknown` when not geolocated): events, visitors and risk rates, ranked by events.
WITH scored AS (
    SELECT
        coalesce(ip_country_code, 'unknown') AS country_code,
        ip_country_name AS country_name,
        visitor_id, bot, vpn, proxy, tor, tampering, suspicious
    FROM event_risk
    WHERE day = $day
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
