"""`circulo demo`: a simulated co-op day end to end on an embedded local stack.

The orchestration (:mod:`circulo.demo.run`) starts or reuses a TimescaleDB cluster and a
Mosquitto broker under a project-local folder, provisions a co-op through the registry,
runs the real ingest and rewards daemons and the simulator as separate processes with a
live progress view, settles every hour, verifies the ledger, refreshes the dashboards'
rollups, and ends with a summary (text and JSON) and a self-contained HTML report.
Everything that decides or renders (windows, config text, survey rows, summary, report)
is pure and lives apart from the processes and SQL.
"""
