vcl 4.1;

# Varnish (7.1 or later) in front of `sv all`: many viewers, one origin.
#
# What it does, in short:
#   - publishers (/ingest/, a WebSocket) are piped straight through to sv;
#   - the control API (/api/), /metrics, the clock (/time), /config.json,
#     /streams.json and the analysis' event streams are passed, never cached;
#   - segments, LL-HLS parts and init segments (/live/.../*.m4s, .mp4, .m4a) are
#     cached and streamed: the first viewer's request fetches a segment from sv
#     while sv is still writing it, and every other viewer who asks meanwhile is
#     served the same bytes as they arrive, from that one fetch (Varnish's
#     request coalescing and streaming);
#   - manifests and playlists are cached for as long as sv says (a second);
#     an LL-HLS blocking playlist reload (?_HLS_msn=..&_HLS_part=..) is cached
#     under its whole URL, so the players waiting for the same part share one
#     request to sv; a player's first load of a low-latency playlist is sent to
#     sv (it must be fresh: sv answers it no-cache);
#   - anything sv marks private (reads protected by tokens) or no-store is not
#     kept, and each such request goes to sv, which checks its token.
#
# Run:   varnishd -a :80 -f /etc/varnish/sv.vcl -s malloc,256m
# with sv all on 127.0.0.1:8080 (change the backend below), started with
# --allow-host for the name viewers use and --time-url pointing at this cache's
# /time. Tested by TestBehindVarnish (internal/lab/e2e).

backend sv {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    # sv holds a request for a part or segment not written yet (up to its
    # --hold, 3 s), a blocking playlist reload (three target durations) and a
    # stream's first manifest (up to 8 s) before it answers.
    .first_byte_timeout = 15s;
    # A segment in progress grows every frame; sv gives one up after 10 s
    # without growth.
    .between_bytes_timeout = 15s;
}

sub vcl_recv {
    # Publishers: a WebSocket upgrade, piped (bytes both ways, untouched).
    if (req.http.Upgrade ~ "(?i)websocket") {
        return (pipe);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # The control API, the metrics, the clock players sync to, what the pages
    # poll, and event streams (Server-Sent Events, which never end).
    if (req.url ~ "^/(api/|metrics|healthz|time|config\.json|streams\.json|recordings\.json)" ||
        req.url ~ "^/live/[^/]+/events") {
        return (pass);
    }
    # Recordings played on demand: whole files of hundreds of MB read by Range
    # requests, each by few viewers; not worth the edge's memory.
    if (req.url ~ "^/recordings/") {
        return (pass);
    }
    if (req.url ~ "^/live/") {
        # sv serves media whatever the cookies: drop them, so that a viewer who
        # has some for the site still shares the cache. A token in an
        # Authorization header makes the request sv's to check (pass); one in
        # the query is part of the cache key, and sv's answer is private anyway.
        unset req.http.Cookie;
        if (req.http.Authorization) {
            return (pass);
        }
        return (hash);
    }
    # The pages and their scripts: cached as sv says (revalidated, with ETags).
}

sub vcl_pipe {
    # Varnish pipes with "Connection: close" unless told otherwise; the upgrade
    # needs its own headers passed on.
    if (req.http.Upgrade) {
        set bereq.http.Upgrade = req.http.Upgrade;
        set bereq.http.Connection = req.http.Connection;
    }
}

sub vcl_backend_response {
    if (bereq.url ~ "^/live/[^/]+/.+\.(m4s|mp4|m4a|webm)(\?|$)") {
        # Stream a segment to every client while it is being fetched: it is
        # still being written at the origin, and low latency needs each frame
        # passed on as it comes.
        set beresp.do_stream = true;
        if (beresp.status != 200 && beresp.status != 204) {
            # 404 (a segment before the window, or never written) and 503
            # (sv busy: players retry): not kept, and the next request for it,
            # which may find it, goes to sv. A short hit-for-miss, not
            # Varnish's default two minutes.
            set beresp.ttl = 1s;
            set beresp.grace = 0s;
            set beresp.uncacheable = true;
            return (deliver);
        }
        if (beresp.http.Cache-Control ~ "(?i)private|no-store") {
            set beresp.ttl = 1s;
            set beresp.uncacheable = true;
            return (deliver);
        }
        # A segment is wanted while the stream's window lists it: a minute is
        # plenty, and keeps the cache's memory for the live edge. Its name is
        # never reused, so clients keep sv's year (Cache-Control is unchanged).
        if (beresp.ttl > 60s) {
            set beresp.ttl = 60s;
        }
        set beresp.grace = 2s;
        return (deliver);
    }
    if (bereq.url ~ "^/live/[^/]+/.+\.(mpd|m3u8)(\?|$)") {
        # The TTL is sv's (s-maxage=1 for a manifest; max-age of a target
        # duration for a blocking reload, keyed by its query string). A short
        # grace lets one request refresh it while the others get the copy just
        # out of date, instead of all waiting; no-cache and private answers (an
        # LL-HLS first load, a protected stream) are not kept, as built in.
        set beresp.do_stream = true;
        if (beresp.status != 200) {
            set beresp.ttl = 0s;
            set beresp.grace = 0s;
            set beresp.uncacheable = true;
            return (deliver);
        }
        set beresp.grace = 500ms;
    }
}

sub vcl_deliver {
    # Whether the edge had it: HIT, MISS (fetched now) or PASS. For operators;
    # players ignore it.
    if (obj.uncacheable) {
        set resp.http.X-Cache = "PASS";
    } elseif (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
