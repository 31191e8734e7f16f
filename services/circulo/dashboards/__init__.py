"""Grafana dashboards as code: SQL panels, macro expansion for tests, rollups, retention, push.

The dashboards are built with Grafana's ``grafana-foundation-sdk`` (``boards/``); each
panel's SQL is a file under ``sql/``. ``macros`` and ``templating`` port what Grafana
does to that SQL before PostgreSQL sees it, so tests can run every panel's query. The
panels read views in the ``dashboards`` schema (migration 0005), which read rollup tables
kept current by :func:`circulo.dashboards.rollups.refresh_rollups`.
"""
