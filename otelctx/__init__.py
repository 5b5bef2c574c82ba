"""otelctx: a self-hosted OpenTelemetry backend on Trio."""

__version__ = "0.1.0"
