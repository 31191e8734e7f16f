-- A broker whose newest broker sample (SYS topics) is more than 5 minutes old: the broker or circulo
-- monitor is down, and the queue-depth rule cannot see anything.
SELECT broker, extract(epoch FROM now() - max(sampled_at)) AS sample_age_seconds
FROM dashboards.broker_sample
GROUP BY broker
HAVING max(sampled_at) < now() - interval '5 minutes'
ORDER BY broker
