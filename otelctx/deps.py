"""The dependencies that the supervised services and the HTTP routes share."""

from __future__ import annotations

from dataclasses import dataclass, field

from otelctx.config import Settings
from otelctx.dbhealth import DbHealth
from otelctx.ingest.service import Ingest
from otelctx.nurseries.graph import GraphService
from otelctx.nurseries.writer import WriterState
from otelctx.storage.base import Storage
from otelctx.telemetry import Metrics


@dataclass(slots=True)
class Readiness:
    """Names of the services that must start before /ready says 200, and those that did."""

    expected: frozenset[str]
    started: set[str] = field(default_factory=set)
    stopping: bool = False

    @property
    def all_started(self) -> bool:
        return not self.stopping and self.expected <= self.started


@dataclass(slots=True)
class Deps:
    settings: Settings
    storage: Storage
    metrics: Metrics
    ingest: Ingest
    writer: WriterState
    readiness: Readiness
    # The database health gate (pings by nurseries/dbhealth.py and /ready).
    db_health: DbHealth = field(default_factory=DbHealth)
    graph: GraphService | None = None
