"""The ingest daemon: every MQTT message stored once, or quarantined with a reason (SPEC §3).

The MQTT callback only stamps the receipt time and enqueues; the writer classifies a
batch, commits it in one transaction across all tables, then acknowledges its messages
to the broker in receipt order.
"""
