// Package bench is sv's benchmark lab: sv measured as a user runs it, as separate
// processes with a real browser, against the alternatives people use instead.
//
//   - BenchmarkGlassToGlass: the latency from capture to screen, through headless
//     Chromium publishing and playing, for sv all's configurations (in sv's viewer and in
//     stock dash.js, Shaka Player and hls.js) and the classic pipeline sv grew from.
//   - BenchmarkIngestThroughput, BenchmarkIngestRealtime: what receiving one stream costs
//     sv recv, a gorilla/websocket receiver (cmd/gorillarecv) and a Node.js one
//     (testdata/node); BenchmarkIngestAllocs: the allocations of sv's ws.Ingest and of
//     gorilla/websocket's read loop, in process.
//   - BenchmarkScale: how many real-time publishers one sv all holds.
//   - BenchmarkAnalysis: sv frames beside FFmpeg's own analysis filters.
//
// make bench (scripts/bench.sh) runs them all and writes BENCHMARKS.md. By hand, from
// internal/lab, with the shortest settings:
//
//	SV_BENCH_LATENCY_RUN=5s go test -run '^$' -bench GlassToGlass -benchtime 1x ./bench
//
// TestMain builds sv and gorillarecv once for the whole run.
package bench
