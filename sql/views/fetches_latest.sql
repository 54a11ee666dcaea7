-- The final fetch outcome of every request ID (ok beats not_found beats failed; the latest attempt within each).
CREATE OR REPLACE VIEW fetches_latest AS
SELECT * EXCLUDE (rank_)
FROM (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY day, request_id
            ORDER BY CASE outcome WHEN 'ok' THEN 0 WHEN 'not_found' THEN 1 ELSE 2 END, fetched_at DESC
        ) AS rank_
    FROM fetches
)
WHERE rank_ = 1;
