package live

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/event"
	"github.com/svtool/sv/serve"
)

// viewerWindow is how recently a viewer must have asked for a segment to count.
const viewerWindow = 10 * time.Second

// metrics are the Server's Prometheus metrics, in a registry of its own (so that several
// Servers can live in one process), served at /metrics. Per-stream series carry the label
// stream and add up over the stream's sessions.
type metrics struct {
	reg *prometheus.Registry

	live     prometheus.Gauge
	bytes    *prometheus.CounterVec
	messages *prometheus.CounterVec
	sessions *prometheus.CounterVec
	ends     *prometheus.CounterVec // {stream, cause}
	failures *prometheus.CounterVec // {stream, stage}
	restarts *prometheus.CounterVec // {stream, stage}
	segments *prometheus.CounterVec
	analysed *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	skips    *prometheus.CounterVec
	requests *prometheus.CounterVec
	viewers  *prometheus.Desc
	highs    *prometheus.GaugeVec // {stream, queue}
	handoff  *prometheus.HistogramVec

	recovered      prometheus.Counter
	deleted        *prometheus.CounterVec // {cause}
	recordings     prometheus.Gauge
	recordingBytes prometheus.Gauge

	mu        sync.Mutex
	seen      map[string]map[string]time.Time // stream -> viewer -> last segment request
	published map[string]bool                 // streams that have had a publisher
	swept     time.Time                       // when seen last forgot its quiet viewers
}

// maxViewerIDs bounds the viewers remembered per stream: past it, a new viewer is not
// counted until others go quiet.
const maxViewerIDs = 1 << 16

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), seen: make(map[string]map[string]time.Time), published: make(map[string]bool)}
	stream := []string{"stream"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sv", Name: name, Help: help}, append(stream, labels...))
		m.reg.MustRegister(c)
		return c
	}
	m.live = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sv", Name: "live_streams", Help: "Streams with a publisher session."})
	m.bytes = counter("ingest_bytes_total", "Bytes received from publishers and recorded.")
	m.messages = counter("ingest_messages_total", "WebSocket messages received from publishers.")
	m.sessions = counter("publisher_sessions_total", "Publisher sessions admitted.")
	m.ends = counter("publisher_ends_total", "Publisher sessions ended, by cause: stopped, dropped, taken_over, kicked, shutdown, idle (no whole message within the idle timeout), error.", "cause")
	m.failures = counter("stage_failures_total", "Sessions whose stage failed for good (recording, dash, analysis).", "stage")
	m.restarts = counter("ffmpeg_restarts_total", "FFmpeg processes restarted after dying mid-stream.", "stage")
	m.segments = counter("segments_written_total", "Media segments completed (first video rendition).")
	m.analysed = counter("frames_analysed_total", "Frames analysed.")
	m.skipped = counter("frames_skipped_total", "Video frames the analysis skipped because it fell behind or restarted.")
	m.skips = counter("analysis_skips_total", "Times the analysis fell behind and skipped ahead to the next keyframe.")
	m.requests = counter("segment_requests_total", "Requests for media segments.")
	m.viewers = prometheus.NewDesc("sv_viewers", "Players that asked for a segment in the last 10 s.", stream, nil)
	m.highs = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sv", Name: "queue_high_water_bytes",
		Help: "Most bytes ever waiting in a stream's queue: ingest (socket to stages), dash (to the packager), analysis."},
		[]string{"stream", "queue"})
	m.handoff = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "sv", Name: "handoff_seconds",
		Help:    "Time from a chunk reaching the packager to its being written into FFmpeg.",
		Buckets: []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1}}, stream)
	m.recovered = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sv", Name: "recordings_recovered_total",
		Help: "Recordings an earlier process left unfinished, finished at start-up."})
	m.deleted = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sv", Name: "recordings_deleted_total",
		Help: "Recordings deleted by retention, by cause: age (--keep-recordings), size (--keep-recordings-size)."}, []string{"cause"})
	m.recordings = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sv", Name: "recordings",
		Help: "Finished recordings on disk, as retention last counted them (with a retention bound set)."})
	m.recordingBytes = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sv", Name: "recordings_bytes",
		Help: "Bytes of finished recordings and their seekable copies on disk, as retention last counted them."})
	m.reg.MustRegister(m.live, m.recovered, m.deleted, m.recordings, m.recordingBytes, viewerCollector{m}, m.highs, m.handoff,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// serving adds the series of the server that serves the media: its cache of segments in
// progress (serve.Options.Cache).
func (m *metrics) serving(web *serve.Server) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sv", Name: "cache_bytes",
			Help: "Bytes of segments being written held in memory for their viewers (--cache bounds them)."},
			func() float64 { return float64(web.Stats().CacheBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "sv", Name: "cache_full_total",
			Help: "Requests for a segment being written that the cache had no room for: served whole once written."},
			func() float64 { return float64(web.Stats().Uncached) }),
	)
}

// storing adds the series of the storage's health.
func (m *metrics) storing(st *storage) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "sv", Name: "storage_failures_total",
			Help: "Failures to store a recording (a full or failing disk)."},
			func() float64 { return float64(st.Failures()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sv", Name: "storage_ok",
			Help: "1 while recordings can be stored, 0 after a failure until a probe succeeds again (as /healthz)."},
			func() float64 {
				if st.check() != nil {
					return 0
				}
				return 1
			}),
	)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// streamMetrics are one stream's series, looked up once per session.
type streamMetrics struct {
	bytes, messages                    prometheus.Counter
	dashRestarts, analysisRestarts     prometheus.Counter
	segments, analysed, skipped, skips prometheus.Counter
	handoff                            prometheus.Observer
	ingestHigh, dashHigh, analysisHigh prometheus.Gauge
	failures                           *prometheus.CounterVec
	stream                             string
}

func (m *metrics) stream(name string) *streamMetrics {
	m.mu.Lock()
	m.published[name] = true
	m.mu.Unlock()
	return &streamMetrics{
		stream:           name,
		bytes:            m.bytes.WithLabelValues(name),
		messages:         m.messages.WithLabelValues(name),
		dashRestarts:     m.restarts.WithLabelValues(name, "dash"),
		analysisRestarts: m.restarts.WithLabelValues(name, "analysis"),
		segments:         m.segments.WithLabelValues(name),
		analysed:         m.analysed.WithLabelValues(name),
		skipped:          m.skipped.WithLabelValues(name),
		skips:            m.skips.WithLabelValues(name),
		handoff:          m.handoff.WithLabelValues(name),
		ingestHigh:       m.highs.WithLabelValues(name, "ingest"),
		dashHigh:         m.highs.WithLabelValues(name, "dash"),
		analysisHigh:     m.highs.WithLabelValues(name, "analysis"),
		failures:         m.failures,
	}
}

// fail counts a stage that failed for good.
func (sm *streamMetrics) fail(stage string) { sm.failures.WithLabelValues(sm.stream, stage).Inc() }

// raise sets a high-water gauge to v if v is higher.
func raise(g prometheus.Gauge, v int64) {
	var d dto.Metric
	if g.Write(&d) == nil && d.Gauge.GetValue() >= float64(v) {
		return
	}
	g.Set(float64(v))
}

// segmentRequest counts a segment request and its viewer: the page's viewer id (the
// query parameter v that the viewer page adds), or else the client's address. It only
// notes the time: viewers are counted when asked for (Viewers, a scrape). Only streams
// that have had a publisher are counted: anyone can ask for any name, and a series or a
// viewer map for each would grow without bound. Viewers gone quiet are forgotten at
// least once per viewerWindow, scraped or not.
func (m *metrics) segmentRequest(stream string, r *http.Request) {
	id := r.URL.Query().Get("v")
	if id == "" || len(id) > 32 {
		id, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.published[stream] {
		return
	}
	m.requests.WithLabelValues(stream).Inc()
	if now.Sub(m.swept) > viewerWindow {
		for s := range m.seen {
			m.countViewers(s, now)
		}
		m.swept = now
	}
	v := m.seen[stream]
	if v == nil {
		v = make(map[string]time.Time)
		m.seen[stream] = v
	}
	if _, ok := v[id]; ok || len(v) < maxViewerIDs {
		v[id] = now
	}
}

// Viewers returns how many players asked for a segment of stream in the last 10 s.
func (m *metrics) Viewers(stream string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.countViewers(stream, time.Now())
}

// countViewers forgets the viewers of stream gone quiet and counts the others; m.mu is
// held.
func (m *metrics) countViewers(stream string, now time.Time) int {
	v := m.seen[stream]
	for id, t := range v {
		if now.Sub(t) > viewerWindow {
			delete(v, id)
		}
	}
	if len(v) == 0 {
		delete(m.seen, stream)
	}
	return len(v)
}

// viewerCollector reports sv_viewers at each scrape, for every stream watched lately.
type viewerCollector struct{ m *metrics }

func (c viewerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.viewers }

func (c viewerCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	now := time.Now()
	for stream := range c.m.seen {
		n := c.m.countViewers(stream, now)
		ch <- prometheus.MustNewConstMetric(c.m.viewers, prometheus.GaugeValue, float64(n), stream)
	}
}

// authCollector reports the decisions of Options.Auth at each scrape.
type authCollector struct{ a *auth.Authorizer }

var authDesc = prometheus.NewDesc("sv_auth_decisions_total",
	"Requests for a protected action, by action and result: allowed, refused, or error (a method could not decide, as a callback down or slow: refused too).",
	[]string{"action", "result"}, nil)

func (c authCollector) Describe(ch chan<- *prometheus.Desc) { ch <- authDesc }

func (c authCollector) Collect(ch chan<- prometheus.Metric) {
	for act, n := range c.a.Counts() {
		ch <- prometheus.MustNewConstMetric(authDesc, prometheus.CounterValue, float64(n.Allowed), string(act), "allowed")
		ch <- prometheus.MustNewConstMetric(authDesc, prometheus.CounterValue, float64(n.Refused), string(act), "refused")
		ch <- prometheus.MustNewConstMetric(authDesc, prometheus.CounterValue, float64(n.Errors), string(act), "error")
	}
}

// eventCollector reports the events emitted and what became of them, per sink, at each
// scrape (Options.Events).
type eventCollector struct{ bus *event.Bus }

var (
	eventsDesc    = prometheus.NewDesc("sv_events_total", "Events emitted, by type.", []string{"type"}, nil)
	deliveredDesc = prometheus.NewDesc("sv_event_deliveries_total", "Events delivered, by sink.", []string{"sink"}, nil)
	failedDesc    = prometheus.NewDesc("sv_event_delivery_failures_total", "Failed attempts to deliver an event, retries included, by sink.", []string{"sink"}, nil)
	droppedDesc   = prometheus.NewDesc("sv_events_dropped_total", "Events a sink never got: its queue was full, or delivery was given up.", []string{"sink"}, nil)
	queuedDesc    = prometheus.NewDesc("sv_event_queue", "Events waiting for a sink.", []string{"sink"}, nil)
)

func (c eventCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{eventsDesc, deliveredDesc, failedDesc, droppedDesc, queuedDesc} {
		ch <- d
	}
}

func (c eventCollector) Collect(ch chan<- prometheus.Metric) {
	for t, n := range c.bus.Emitted() {
		ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(n), string(t))
	}
	seen := map[string]int{}
	for _, st := range c.bus.Stats() {
		sink := st.Sink
		if seen[sink]++; seen[sink] > 1 { // two sinks by one name: a series each
			sink = fmt.Sprintf("%s #%d", sink, seen[sink])
		}
		ch <- prometheus.MustNewConstMetric(deliveredDesc, prometheus.CounterValue, float64(st.Delivered), sink)
		ch <- prometheus.MustNewConstMetric(failedDesc, prometheus.CounterValue, float64(st.Failures), sink)
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(st.Dropped), sink)
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(st.Queued), sink)
	}
}
