-- One row for the day: how the Server API fetches ended (ok / not found / failed), retries and API latency.
WITH final AS (
    SELECT
        count(*) AS request_ids,
        count(*) FILTER (WHERE outcome = 'ok') AS ok,
        count(*) FILTER (WHERE outcome = 'not_found') AS not_found,
        count(*) FILTER (WHERE outcome = 'failed') AS failed
    FROM fetches_latest
    WHERE day = $day
),
attempts AS (
    SELECT
        count(*) AS fetches,
        coalesce(sum(attempts), 0) AS http_attempts,
        quantile_cont(latency_ms, 0.5) AS latency_p50_ms,
        quantile_cont(latency_ms, 0.95) AS latency_p95_ms,
        max(latency_ms) AS latency_max_ms
    FROM fetches
    WHERE day = $day
)
SELECT
    f.request_ids, f.ok, f.not_found, f.failed,
    f.ok / nullif(f.request_ids, 0) AS ok_rate,
    f.failed / nullif(f.request_ids, 0) AS failed_rate,
    a.fetches, a.http_attempts, a.http_attempts - a.fetches AS retries,
    a.latency_p50_ms, a.latency_p95_ms, a.latency_max_ms
FROM final AS f, attempts AS a;
