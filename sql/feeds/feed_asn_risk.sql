-- The day's 100 busiest autonomous systems (`unknown` when not known): events, visitors, datacenter share and risk rates.
WITH scored AS (
    SELECT
        coalesce(ip_asn, 'unknown') AS asn,
        ip_asn_name AS asn_name,
        ip_asn_type AS asn_type,
        ip_datacenter AS datacenter,
        visitor_id, bot, vpn, proxy, tor, tampering, suspicious
    FROM event_risk
    WHERE day = $day
)
SELECT
    row_number() OVER (ORDER BY count(*) DESC, asn) AS rank, -- 1 = the AS with the most events on the day; ties broken by number.
    asn, -- Autonomous system number (text, from ipInfo v4), or `unknown`.
    max(asn_name) AS asn_name, -- AS name.
    max(asn_type) AS asn_type, -- AS type (isp, hosting, ...).
    count(*) AS events, -- Fetched events on the day from this AS.
    count(DISTINCT visitor_id) AS unique_visitors, -- Distinct visitor IDs (devices) among them.
    count(*) / sum(count(*)) OVER () AS share_of_events, -- This AS's share of the day's fetched events (0..1).
    avg(CAST(datacenter AS DOUBLE)) AS datacenter_rate, -- Share of its events from a datacenter IP (denominator: events with ipInfo).
    avg(CAST(bot AS DOUBLE)) AS bot_rate, -- Share of its events with a bad bot detected (denominator: its events whose bot detection ran).
    avg(CAST(vpn AS DOUBLE)) AS vpn_rate, -- Share of its events through a VPN (denominator: its events whose VPN detection ran).
    avg(CAST(proxy AS DOUBLE)) AS proxy_rate, -- Share of its events through a proxy (denominator: its events whose proxy detection ran).
    avg(CAST(tor AS DOUBLE)) AS tor_rate, -- Share of its events from Tor (denominator: its events whose Tor detection ran).
    avg(CAST(tampering AS DOUBLE)) AS tampering_rate, -- Share of its events from a tampered browser (denominator: its events whose tampering detection ran).
    avg(CAST(suspicious AS DOUBLE)) AS suspicious_rate -- Share of its events in `suspicious_requests` (denominator: all its events).
FROM scored
GROUP BY asn
QUALIFY rank <= 100
ORDER BY rank;
