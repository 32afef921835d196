"""What operators see: Prometheus metrics (``metrics``, fed by ``sampling``), OpenTelemetry
traces when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (``tracing``), one JSON log line per
request (``logs``), and the figures of ``GET /admin/status`` (``status``)."""
