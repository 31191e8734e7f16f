-- Final loss per UTC day (SPEC 11): messages of lost replay gaps, by the day their loss became
-- final and its reason. The ingest counts the same in messages_lost_final{reason}.
SELECT time_bucket(interval '1 day', closed_at) AS "time",
       lost_reason AS metric, sum(lost) AS "messages lost"
FROM dashboards.replay_gap
WHERE state = 'lost' AND coop_id IN ($coop) AND $__timeFilter(closed_at)
GROUP BY 1, 2
ORDER BY 1, 2
