-- Messages the broker holds for its clients (stored minus retained, from the newest SYS-topic
-- sample under 5 minutes old) above 100,000: a tenth of max_queued_messages, the point at
-- which Mosquitto starts dropping QoS 1 messages for a slow or absent ingest.
WITH newest AS (
    SELECT DISTINCT ON (broker) broker, queued_messages
    FROM dashboards.broker_sample WHERE sampled_at > now() - interval '5 minutes'
    ORDER BY broker, sampled_at DESC
)
SELECT broker, queued_messages
FROM newest
WHERE queued_messages > 100000
ORDER BY broker
