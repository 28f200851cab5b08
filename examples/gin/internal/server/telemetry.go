package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/authenik8/authenik8-go/core"
)

// telemetry is the OpenTelemetry SDK behind Authenik8's metrics and
// traces: with METRICS=1 a meter provider whose Prometheus exporter serves
// GET /metrics, with OTEL_EXPORTER_OTLP_ENDPOINT a tracer provider that
// sends the spans of the store calls over OTLP/HTTP. Left unset, core's
// instruments are no-ops and cost nothing.
type telemetry struct {
	meters   metric.MeterProvider // nil: none, core uses the global no-op
	tracers  trace.TracerProvider // nil: none
	metrics  http.Handler         // GET /metrics; nil without METRICS
	shutdown []func(context.Context) error
}

// newTelemetry sets up what cfg asks for.
func newTelemetry(cfg Config, log *slog.Logger) (*telemetry, error) {
	t := &telemetry{}
	if !cfg.Metrics && cfg.OTLPEndpoint == "" {
		return t, nil
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win.
	res, err := resource.New(context.Background(),
		resource.WithAttributes(attribute.String("service.name", "gin")),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	if cfg.Metrics {
		// A registry of its own: /metrics shows these series only.
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return nil, fmt.Errorf("METRICS: %w", err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
		t.meters, t.metrics = mp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		t.shutdown = append(t.shutdown, mp.Shutdown)
		log.Info("metrics: GET /metrics")
	}
	if cfg.OTLPEndpoint != "" {
		u, err := url.Parse(cfg.OTLPEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %s is not an http:// or https:// URL", core.RedactURL(cfg.OTLPEndpoint))
		}
		// The variable is the collector's base URL; traces go to /v1/traces.
		exp, err := otlptracehttp.New(context.Background(),
			otlptracehttp.WithEndpointURL(strings.TrimSuffix(cfg.OTLPEndpoint, "/")+"/v1/traces"))
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t.tracers = tp
		t.shutdown = append(t.shutdown, tp.Shutdown)
		log.Info("traces: OTLP", "endpoint", core.RedactURL(cfg.OTLPEndpoint))
	}
	return t, nil
}

// close flushes the spans not yet sent and stops the providers, within
// shutdownTimeout.
func (t *telemetry) close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, f := range t.shutdown {
		if err := f(ctx); err != nil {
			log.Warn("telemetry: shutdown", "err", err)
		}
	}
}
