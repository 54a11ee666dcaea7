-- The day's 100 busiest autonomous systems (`unknown` when not known): events, visitors, datacenter share and risk rates.
WITH scored AS (
    SELECT
        coalesce(e.ip_v4_asn, 'unknown') AS asn,
        e.ip_v4_asn_name AS asn_name,
        g.asn_type,
        e.ip_v4_datacenter AS datacenter,
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
