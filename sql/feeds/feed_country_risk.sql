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
    row_number() OVER (ORDER BY count(*) DESC, country_code) AS rank, -- 1 = the country with the most events on the day; ties broken by code.
    country_code, -- IP country (ISO 3166 alpha-2, from ipInfo v4), or `unknown`.
    max(country_name) AS country_name, -- Country name.
    count(*) AS events, -- Fetched events on the day from this country.
    count(DISTINCT visitor_id) AS unique_visitors, -- Distinct visitor IDs (devices) among them.
    count(*) / sum(count(*)) OVER () AS share_of_events, -- This country's share of the day's fetched events (0..1).
    avg(CAST(bot AS DOUBLE)) AS bot_rate, -- Share of its events with a bad bot detected (denominator: its events whose bot detection ran).
    avg(CAST(vpn AS DOUBLE)) AS vpn_rate, -- Share of its events through a VPN (denominator: its events whose VPN detection ran).
    avg(CAST(proxy AS DOUBLE)) AS proxy_rate, -- Share of its events through a proxy (denominator: its events whose proxy detection ran).
    avg(CAST(tor AS DOUBLE)) AS tor_rate, -- Share of its events from Tor (denominator: its events whose Tor detection ran).
    avg(CAST(tampering AS DOUBLE)) AS tampering_rate, -- Share of its events from a tampered browser (denominator: its events whose tampering detection ran).
    avg(CAST(suspicious AS DOUBLE)) AS suspicious_rate -- Share of its events in `suspicious_requests` (denominator: all its events).
FROM scored
GROUP BY country_code
ORDER BY rank;
