// Package telemetry tests core's OpenTelemetry instrumentation with the
// OpenTelemetry SDK, which core itself does not depend on: the counters and
// their labels (an in-memory reader), the names the Prometheus exporter
// gives them, spans without secrets, and the cost per authenticated request
// on every adapter (BenchmarkAuthenticate, with the no-op providers and with
// an SDK).
package telemetry
