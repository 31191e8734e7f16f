-- Replay gaps not yet closed (SPEC 11): open (waiting for replay_after), requested (a replay
-- command was sent), and the messages they still lack; a meter's hour or a bin's collection
-- covered by one waits for it, at most until its give-up time.
SELECT count(*) FILTER (WHERE state = 'open') AS "Open",
       count(*) FILTER (WHERE state = 'requested') AS "Requested",
       coalesce(sum(missing), 0) AS "Messages missing"
FROM dashboards.replay_gap
WHERE pending AND coop_id IN ($coop)
