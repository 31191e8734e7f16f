-- Messages the broker holds for its clients (stored minus retained), newest broker sample (SYS topics).
SELECT queued_messages AS "Queued", extract(epoch FROM now() - sampled_at) AS "Sample age s"
FROM dashboards.broker_sample
ORDER BY sampled_at DESC
LIMIT 1
