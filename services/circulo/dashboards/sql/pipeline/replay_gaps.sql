-- Each pending replay gap: its device, boot epoch, seq range, what it still lacks, its state,
-- the replay commands sent and when the ingest gives it up (its loss then becomes final).
SELECT device_id AS "Device", coop_id AS "Co-op", epoch AS "Epoch",
       from_seq || '..' || to_seq AS "Range", missing AS "Missing", state AS "State",
       requests AS "Requests", opened_at AS "Found", give_up_at AS "Gives up at"
FROM dashboards.replay_gap
WHERE pending AND coop_id IN ($coop)
ORDER BY opened_at, device_id, epoch, from_seq
