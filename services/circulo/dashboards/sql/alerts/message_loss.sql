-- Each co-op's message loss over the last hour: the difference of the ingest's cumulative
-- sequence counters between the newest sample (under 10 minutes old) and the newest one at
-- least an hour older (circulo monitor samples them). At least 100 messages expected, more
-- than 2 % of them missing. A gap the device fills later (a replay) lowers the count again.
WITH latest AS (
    SELECT DISTINCT ON (coop_id) coop_id, seq_received, seq_missing
    FROM dashboards.seq_sample WHERE sampled_at > now() - interval '10 minutes'
    ORDER BY coop_id, sampled_at DESC
), hour_ago AS (
    SELECT DISTINCT ON (coop_id) coop_id, seq_received, seq_missing
    FROM dashboards.seq_sample
    WHERE sampled_at <= now() - interval '1 hour' AND sampled_at > now() - interval '2 hours'
    ORDER BY coop_id, sampled_at DESC
), window_counts AS (
    SELECT l.coop_id, GREATEST(l.seq_missing - h.seq_missing, 0) AS missing,
           GREATEST(l.seq_received - h.seq_received, 0) AS received
    FROM latest l JOIN hour_ago h USING (coop_id)
)
SELECT coop_id, 100.0 * missing / (received + missing) AS loss_pct
FROM window_counts
WHERE received + missing >= 100 AND missing * 100 > (received + missing) * 2
ORDER BY coop_id
