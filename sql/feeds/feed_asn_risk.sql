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
    row_number() OVER (ORDER BY count(*) DESC, asn) AS rank,
    asn,
    max(asn_name) AS asn_name,
    max(asn_type) AS asn_type,
    count(*) AS events,
    count(DISTINCT visitor_id) AS unique_visitors,
    count(*) / sum(count(*)) OVER () AS share_of_events,
    avg(CAST(datacenter AS DOUBLE)) AS datacenter_rate,
    avg(CAST(bot AS DOUBLE)) AS bot_rate,
    avg(CAST(vpn AS DOUBLE)) AS vpn_rate,
    avg(CAST(proxy AS DOUBLE)) AS proxy_rate,
    avg(CAST(tor AS DOUBLE)) AS tor_rate,
    avg(CAST(tampering AS DOUBLE)) AS tampering_rate,
    avg(CAST(suspicious AS DOUBLE)) AS suspicious_rate
FROM scored
GROUP BY asn
QUALIFY rank <= 100
ORDER BY rank;
