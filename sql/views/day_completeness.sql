-- Is the day complete: every logged request ID fetched to a final outcome (ok or not_found)? The counts come from daily_metrics.
CREATE OR REPLACE VIEW day_completeness AS
SELECT
    day,
    request_ids AS logged_ids, -- Distinct request IDs logged (daily_metrics.request_ids).
    fetched_ok AS ok, -- Logged request IDs whose final fetch outcome is `ok` (daily_metrics.fetched_ok).
    not_found, -- Logged request IDs the API does not know (daily_metrics.not_found): final, never retried.
    failed, -- Logged request IDs whose last fetch failed (daily_metrics.failed): every later run retries them while the day is inside FINGERPRINT_RETENTION_DAYS.
    not_fetched AS pending, -- Logged request IDs without any fetch outcome yet (daily_metrics.not_fetched): a later run fetches them.
    failed = 0 AND not_fetched = 0 AS complete -- True when every logged request ID ended `ok` or `not_found` (failed = 0 and pending = 0).
FROM daily_metrics;
