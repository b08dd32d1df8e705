package live

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

// TestMetricsBounded: segment requests for streams that never had a publisher make no
// series and remember no viewer, whatever names anonymous clients send; viewers gone
// quiet are forgotten without a scrape; a stream remembers at most maxViewerIDs viewers.
func TestMetricsBounded(t *testing.T) {
	m := newMetrics()
	get := func(stream, v string) {
		m.segmentRequest(stream, httptest.NewRequest("GET", "/live/"+stream+"/chunk-stream0-00001.m4s?v="+v, nil))
	}
	for i := range 1000 {
		get(fmt.Sprintf("nobody%d", i), "x")
	}
	if n := seriesOf(t, m, "sv_segment_requests_total"); n != 0 || len(m.seen) != 0 {
		t.Errorf("requests for unpublished streams: %d series, %d streams with viewers", n, len(m.seen))
	}

	m.stream("cam")
	get("cam", "a")
	if n := seriesOf(t, m, "sv_segment_requests_total"); n != 1 || m.Viewers("cam") != 1 {
		t.Errorf("a published stream: %d series, %d viewers, want 1 and 1", n, m.Viewers("cam"))
	}

	// A viewer quiet for longer than the window is gone at the next request, scraped or not.
	m.mu.Lock()
	m.seen["cam"]["old"] = time.Now().Add(-2 * viewerWindow)
	m.swept = time.Now().Add(-2 * viewerWindow)
	m.mu.Unlock()
	get("cam", "b")
	m.mu.Lock()
	_, old := m.seen["cam"]["old"]
	m.mu.Unlock()
	if old {
		t.Error("a quiet viewer is still remembered")
	}

	for i := range maxViewerIDs + 100 {
		get("cam", fmt.Sprint(i))
	}
	if n := m.Viewers("cam"); n != maxViewerIDs {
		t.Errorf("%d viewers remembered, want the bound, %d", n, maxViewerIDs)
	}
}

// seriesOf counts the series of the metric family name.
func seriesOf(t *testing.T, m *metrics, name string) int {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}
