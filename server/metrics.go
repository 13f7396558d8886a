package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/token"
)

// Metrics are a server's Prometheus metrics (docs/operations.md#metrics).
//
// Labels take values from sets the operator configures or the code fixes:
// key names only of keys that exist in the keystore (a request naming
// another key counts under key "unknown"), formats only of the formats
// the server has, endpoints as the routes are written (never the URL
// requested), status classes, and fixed reasons. Artifact names,
// principals, token subjects and anything else a caller chooses never
// become labels, so no caller can grow the series or read secrets in them.
//
// The hot path uses handles created once: per route and per key and
// format on first use, found again with one sync.Map lookup.
type Metrics struct {
	reg *prometheus.Registry

	signatures *prometheus.CounterVec
	requests   *prometheus.HistogramVec
	rejections map[string]prometheus.Counter // token rejections by reason
	commitSize prometheus.Histogram
	commitTime prometheus.Histogram
	commitFail prometheus.Counter
	reloadOK   prometheus.Counter
	reloadFail prometheus.Counter
	reloadTime prometheus.Gauge
	unlocks    map[string]prometheus.Counter // passphrase unlock attempts by result
	authFails  map[string]prometheus.Counter // failed authentications by reason
	authLimit  prometheus.Counter            // of which answered 429

	keyExists func(name string) bool

	routes sync.Map // route pattern → *[6]prometheus.Observer, by status class
	signed sync.Map // keyFormat → *[3]prometheus.Counter, by result
}

type keyFormat struct{ key, format string }

// Token rejection reasons, the values of label reason.
var rejectionReasons = []string{"malformed", "unknown_key", "signature", "audience", "not_yet_valid", "expired", "revoked", "wrong_certificate", "tokens_off"}

// signature results, the values of label result
var signResults = [3]string{"signed", "refused", "failed"}

// NewMetrics returns the metrics of one server, registered in a registry
// of their own together with the Go runtime's and the process's.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_signatures_total",
			Help: "Artifacts asked to be signed, by key, format and result: signed, refused (4xx) or failed (5xx).",
		}, []string{"key", "format", "result"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signet_request_duration_seconds",
			Help:    "Time to answer /v1/ requests, by route and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint", "code"}),
		commitSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signet_audit_commit_entries",
			Help:    "Entries per audit log commit (group commit batch size).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13),
		}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signet_audit_commit_seconds",
			Help:    "Time of one audit log commit, durable write and checkpoint included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		commitFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "signet_audit_commit_failures_total",
			Help: "Audit log commits that failed; nothing is signed until a commit or probe succeeds.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "signet_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully (start or SIGHUP), in Unix seconds.",
		}),
		rejections: map[string]prometheus.Counter{},
	}
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_config_reloads_total",
		Help: "Configuration reloads (SIGHUP), by result: applied or refused.",
	}, []string{"result"})
	m.reloadOK, m.reloadFail = reloads.WithLabelValues("applied"), reloads.WithLabelValues("refused")
	m.reloadTime.SetToCurrentTime()
	rej := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_token_rejections_total",
		Help: "Requests whose bearer token was refused, by reason.",
	}, []string{"reason"})
	for _, r := range rejectionReasons {
		m.rejections[r] = rej.WithLabelValues(r)
	}
	unl := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_unlock_attempts_total",
		Help: "Passphrase unlock attempts, by result: unlocked, bad_passphrase, failed, throttled (429, backoff after failures) or busy (503, derivations bounded).",
	}, []string{"result"})
	m.unlocks = map[string]prometheus.Counter{}
	for _, r := range []string{"unlocked", "bad_passphrase", "failed", "throttled", "busy"} {
		m.unlocks[r] = unl.WithLabelValues(r)
	}
	reg.MustRegister(unl)
	af := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_authentication_failures_total",
		Help: "Requests that failed to authenticate, by reason; the audit log records them per source address and interval, not one by one.",
	}, []string{"reason"})
	m.authFails = map[string]prometheus.Counter{}
	for r := range authFailureReasons {
		m.authFails[r] = af.WithLabelValues(r)
	}
	m.authLimit = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "signet_authentication_throttled_total",
		Help: "Failed authentications answered 429: their source address was over limits.auth_failure_budget in the interval.",
	})
	reg.MustRegister(af, m.authLimit)
	reg.MustRegister(m.signatures, m.requests, m.commitSize, m.commitTime, m.commitFail, m.reloadTime, reloads, rej,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second})
}

// Registry is where the metrics are registered, for tests and for
// collectors of the command.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveCommit records one audit log commit; it is audit.Options.Observe.
func (m *Metrics) ObserveCommit(c audit.Commit) {
	if m == nil {
		return
	}
	if c.Err != nil {
		m.commitFail.Inc()
		return
	}
	m.commitSize.Observe(float64(c.Entries))
	m.commitTime.Observe(c.Took.Seconds())
}

// attach adds the gauges read from s at each scrape.
func (m *Metrics) attach(s *Server) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&stateCollector{s: s})
	m.keyExists = func(name string) bool { _, err := s.keys.Key(name); return err == nil }
}

// observe records the outcome of API request c.
func (m *Metrics) observe(c *call, status int) {
	if m == nil {
		return
	}
	class := status / 100
	if class < 1 || class > 5 {
		class = 5
	}
	pattern := c.r.Pattern
	obs, ok := m.routes.Load(pattern)
	if !ok {
		endpoint := pattern
		if endpoint == "/" || endpoint == "" {
			endpoint = "unmatched" // any path nobody routes: never the path itself
		}
		var o [6]prometheus.Observer
		for i := 1; i <= 5; i++ {
			o[i] = m.requests.WithLabelValues(endpoint, string(rune('0'+i))+"xx")
		}
		obs, _ = m.routes.LoadOrStore(pattern, &o)
	}
	obs.(*[6]prometheus.Observer)[class].Observe(time.Since(c.start).Seconds())
	if c.action != audit.ActionSign || c.items == 0 {
		return
	}
	kf := keyFormat{"unknown", "unknown"}
	if c.key != nil && (c.key.Fingerprint != "" || m.keyExists(c.key.Name)) {
		kf.key = c.key.Name // the key exists: the keystore bounds the set
	}
	if _, ok := formats[c.format]; ok || c.format == catalogFormat {
		kf.format = c.format
	}
	h, ok := m.signed.Load(kf)
	if !ok {
		var cs [3]prometheus.Counter
		for i, r := range signResults {
			cs[i] = m.signatures.WithLabelValues(kf.key, kf.format, r)
		}
		h, _ = m.signed.LoadOrStore(kf, &cs)
	}
	result := 0
	switch {
	case status >= 500:
		result = 2
	case status >= 300:
		result = 1
	}
	h.(*[3]prometheus.Counter)[result].Add(float64(c.items))
}

// tokenRejected counts the refused bearer token of c by its reason.
func (m *Metrics) tokenRejected(c *call, err error) {
	if m == nil || c.r.Header.Get("Authorization") == "" {
		return
	}
	reason := "malformed"
	switch {
	case c.set.tokens.Verifier == nil:
		reason = "tokens_off"
	case errors.Is(err, token.ErrExpired):
		reason = "expired"
	case errors.Is(err, token.ErrRevoked):
		reason = "revoked"
	case errors.Is(err, token.ErrNotYetValid):
		reason = "not_yet_valid"
	case errors.Is(err, token.ErrAudience):
		reason = "audience"
	case errors.Is(err, token.ErrSignature):
		reason = "signature"
	case errors.Is(err, token.ErrUnknownKey):
		reason = "unknown_key"
	case errors.Is(err, token.ErrMalformed), errors.Is(err, token.ErrEncoding), errors.Is(err, token.ErrType), errors.Is(err, token.ErrAlgorithm):
		reason = "malformed"
	default:
		reason = "wrong_certificate" // a token bound to another certificate, or a bad local-user assertion
	}
	m.rejections[reason].Inc()
}

// authFailure counts one failed authentication.
func (m *Metrics) authFailure(reason string, throttled bool) {
	if m == nil {
		return
	}
	if c := m.authFails[reason]; c != nil {
		c.Inc()
	}
	if throttled {
		m.authLimit.Inc()
	}
}

// unlockAttempt counts one passphrase unlock attempt by its result.
func (m *Metrics) unlockAttempt(result string) {
	if m == nil {
		return
	}
	m.unlocks[result].Inc()
}

func (m *Metrics) reloaded(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloadOK.Inc()
		m.reloadTime.SetToCurrentTime()
	} else {
		m.reloadFail.Inc()
	}
}

// stateCollector reads the keystore and readiness at each scrape.
type stateCollector struct{ s *Server }

var (
	descLocked   = prometheus.NewDesc("signet_keystore_locked", "1 while the keystore is locked (no lease), else 0.", nil, nil)
	descLease    = prometheus.NewDesc("signet_keystore_lease_remaining_seconds", "Time until the current lease ends if unused (idle_ttl) or at the latest (max_ttl), whichever is first; 0 while locked, +Inf without limits.", nil, nil)
	descToken    = prometheus.NewDesc("signet_hsm_token_logged_in", "1 while the keystore is logged into the PKCS #11 token, else 0.", []string{"token"}, nil)
	descReady    = prometheus.NewDesc("signet_ready", "1 when GET /readyz would answer ready, else 0.", nil, nil)
	descInflight = prometheus.NewDesc("signet_inflight_requests", "/v1/ requests being handled (at most limits.max_inflight).", nil, nil)
	descRefused  = prometheus.NewDesc("signet_connections_refused_total", "Connections closed before serving: over limits.max_conns, no handshake slot (limits.max_handshakes) in time, or a handshake that failed or timed out.", nil, nil)
	descPending  = prometheus.NewDesc("signet_audit_records_pending", "Entries of acts done while the audit log was down (lock, expiries), waiting to be written.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLocked, descLease, descToken, descReady, descInflight, descRefused, descPending} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.keys.Status()
	locked, remaining := 0.0, 0.0
	if st.Locked {
		locked = 1
	} else if l := st.Lease; l != nil {
		remaining = math.Inf(1)
		for _, t := range []time.Time{l.IdleExpires, l.Expires} {
			if !t.IsZero() {
				remaining = math.Min(remaining, math.Max(0, time.Until(t).Seconds()))
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descLocked, prometheus.GaugeValue, locked)
	ch <- prometheus.MustNewConstMetric(descLease, prometheus.GaugeValue, remaining)
	for _, t := range st.Tokens {
		in := 0.0
		if t.LoggedIn && t.Error == "" {
			in = 1
		}
		ch <- prometheus.MustNewConstMetric(descToken, prometheus.GaugeValue, in, t.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.s.probe.timeout)
	defer cancel()
	ready := 0.0
	if c.s.Ready(ctx) == nil {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
	ch <- prometheus.MustNewConstMetric(descInflight, prometheus.GaugeValue, float64(len(c.s.slots)))
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(c.s.connsRefused.Load()))
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(c.s.PendingRecords()))
}
