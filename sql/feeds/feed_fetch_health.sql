-- One row for the day: how the Server API fetches of the logged request IDs ended (ok / not found / failed), retries and API latency.
WITH attempts AS (
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
    m.request_ids, -- Distinct request IDs logged.
    m.fetched_ok AS ok, -- Logged request IDs whose final fetch outcome is `ok` (daily_metrics.fetched_ok).
    m.not_found,
    m.failed,
    m.ok_rate,
    m.failed_rate,
    a.fetches, -- Fetch outcomes recorded (a re-run after a failure adds one; a search page lands one per event).
    a.http_attempts, -- HTTP requests behind those outcomes, retries included (a search page's attempts count once per event it landed).
    a.http_attempts - a.fetches AS retries, -- http_attempts - fetches: retried 429 / 5xx / timeouts.
    a.latency_p50_ms, -- Median wall time per fetch outcome across its attempts, ms.
    a.latency_p95_ms, -- 95th percentile of that time, ms.
    a.latency_max_ms -- Slowest fetch outcome, ms.
FROM daily_metrics AS m, attempts AS a
WHERE m.day = $day;
