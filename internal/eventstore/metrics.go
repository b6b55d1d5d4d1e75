package eventstore

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts appends for /metrics.
type metrics struct {
	pushes    *prometheus.CounterVec
	events    prometheus.Counter
	durations prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "castellan_eventstore_pushes_total", Help: "Appends by outcome: ok, conflict (optimistic concurrency), error.",
		}, []string{"outcome"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "castellan_eventstore_events_total", Help: "Events appended.",
		}),
		durations: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "castellan_eventstore_push_duration_seconds", Help: "Time of an append, commit included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
}

// Collectors returns the store's metrics, for a Prometheus registry.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.pushes, s.metrics.events, s.metrics.durations}
}

func (m *metrics) observe(start time.Time, events int, err error) {
	m.durations.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		m.pushes.WithLabelValues("ok").Inc()
		m.events.Add(float64(events))
	case errors.Is(err, ErrConcurrentModification):
		m.pushes.WithLabelValues("conflict").Inc()
	default:
		m.pushes.WithLabelValues("error").Inc()
	}
}
