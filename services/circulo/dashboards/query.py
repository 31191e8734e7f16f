"""A PostgreSQL query for the foundation SDK, which has no SQL data-source builder.

Follows the SDK's custom-query example (``examples/python/custom-query``): a
``Dataquery`` variant with ``to_json``/``from_json``, a builder, and a variant config so
dashboards with these queries can be read back. Every query names the provisioned data
source by its fixed uid, carries the SQL as ``rawSql`` in ``editorMode: code`` and says
whether Grafana should read the result as a time series or as a table.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE_UID = "circulo-timescaledb"
DATASOURCE_NAME = "Circulo TimescaleDB"

QueryFormat = Literal["time_series", "table"]
TIME_SERIES: QueryFormat = "time_series"
TABLE: QueryFormat = "table"


def datasource_ref() -> DataSourceRef:
    """The provisioned TimescaleDB data source, by its fixed uid."""
    return DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


def read_sql(name: str) -> str:
    """A panel's SQL from ``sql/<board>/<panel>.sql`` (``name`` = ``board/panel``)."""
    return (
        resources.files("circulo.dashboards")
        .joinpath("sql", f"{name}.sql")
        .read_text(encoding="utf-8")
        .strip()
    )


class SqlQuery(cogvariants.Dataquery):
    """One PostgreSQL target of a panel, in the form Grafana 11.6 saves it."""

    def __init__(
        self, raw_sql: str, fmt: QueryFormat = TIME_SERIES, ref_id: str = "A", hide: bool | None = None
    ):
        self.raw_sql = raw_sql
        self.format = fmt
        self.ref_id = ref_id
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        """The target as dashboard JSON."""
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID},
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": self.raw_sql,
        }
        if self.hide is not None:
            payload["hide"] = self.hide
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Read a target back from dashboard JSON."""
        return cls(
            raw_sql=str(data.get("rawSql", "")),
            fmt=TABLE if data.get("format") == TABLE else TIME_SERIES,
            ref_id=str(data.get("refId", "A")),
            hide=data.get("hide"),
        )


def sql_query_variant_config() -> cogruntime.DataqueryConfig:
    """Registers the query with cog, so dashboards holding it can be unmarshalled."""
    return cogruntime.DataqueryConfig(identifier=DATASOURCE_TYPE, from_json_hook=SqlQuery.from_json)


class SqlQueryBuilder(builder.Builder[SqlQuery]):
    """Builder of a :class:`SqlQuery`; ``SqlQueryBuilder.from_file("energy/coop_energy")``."""

    def __init__(self, raw_sql: str, fmt: QueryFormat = TIME_SERIES):
        self._internal = SqlQuery(raw_sql=raw_sql, fmt=fmt)

    @classmethod
    def from_file(cls, name: str, fmt: QueryFormat = TIME_SERIES) -> SqlQueryBuilder:
        """The query whose SQL lives in ``sql/<name>.sql``."""
        return cls(read_sql(name), fmt)

    def build(self) -> SqlQuery:
        """The query."""
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        """Its refId within the panel."""
        self._internal.ref_id = ref_id
        return self

    def hide(self, hide: bool) -> Self:
        """Hide it from the panel's result."""
        self._internal.hide = hide
        return self
