package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the assistant's Prometheus collectors, in a registry of the
// bot's own (no global state): served on -metrics-addr.
type metrics struct {
	reg        *prometheus.Registry
	questions  *prometheus.CounterVec // via: mention, room, direct
	refused    *prometheus.CounterVec // reason: user_limit, room_limit, stopping
	answers    *prometheus.CounterVec // outcome: done, error, cancelled
	errors     *prometheus.CounterVec // kind: timeout, api, connection, stream, empty
	tokens     *prometheus.CounterVec // kind: prompt, completion
	deltas     prometheus.Counter
	inFlight   prometheus.Gauge
	latency    prometheus.Histogram // question to final message
	firstToken prometheus.Histogram // question to the first piece of text
}

// Label values, created up front so that every series exists from the start.
const (
	viaMention = "mention"
	viaRoom    = "room"
	viaDirect  = "direct"

	outcomeDone      = "done"
	outcomeError     = "error"
	outcomeCancelled = "cancelled"
)

// newMetrics returns the collectors, registered, every labelled series at 0.
func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		questions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_llm_questions_total", Help: "Questions the assistant took, refused ones included, by how they reached it.",
		}, []string{"via"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_llm_refused_total", Help: "Questions refused before the model was asked, by reason.",
		}, []string{"reason"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_llm_answers_total", Help: "Answers ended, by outcome.",
		}, []string{"outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_llm_errors_total", Help: "Answers the model failed, by kind.",
		}, []string{"kind"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_llm_tokens_total", Help: "Tokens as the server reported them (completion: pieces of text when it reports none).",
		}, []string{"kind"}),
		deltas: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatbot_llm_deltas_total", Help: "answer_delta events published (each to every reader of its answer).",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatbot_llm_answers_in_flight", Help: "Answers under way.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chatbot_llm_answer_seconds", Help: "Time from a question to its final message.",
			Buckets: []float64{.25, .5, 1, 2, 4, 8, 15, 30, 60, 120},
		}),
		firstToken: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chatbot_llm_first_token_seconds", Help: "Time from a question to the first piece of its answer.",
			Buckets: []float64{.1, .25, .5, 1, 2, 4, 8, 15, 30},
		}),
	}
	m.reg.MustRegister(m.questions, m.refused, m.answers, m.errors, m.tokens, m.deltas, m.inFlight, m.latency, m.firstToken)
	for vec, values := range map[*prometheus.CounterVec][]string{
		m.questions: {viaMention, viaRoom, viaDirect},
		m.refused:   {reasonUserLimit, reasonRoomLimit, reasonStopping},
		m.answers:   {outcomeDone, outcomeError, outcomeCancelled},
		m.errors:    {"timeout", "api", "connection", "stream", "empty"},
		m.tokens:    {"prompt", "completion"},
	} {
		for _, v := range values {
			vec.WithLabelValues(v)
		}
	}
	return m
}

// metricsServer serves a registry at /metrics.
type metricsServer struct {
	srv  *http.Server
	addr net.Addr
}

// serveMetrics listens on addr and serves reg at /metrics until close.
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("chatbot: metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, addr: ln.Addr()}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+s.addr.String()+"/metrics")
	return s, nil
}

// close stops the server, letting a scrape under way finish (1s at most).
func (s *metricsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
