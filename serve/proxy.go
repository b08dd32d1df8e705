package serve

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// forwardingHeaders are the headers through which a proxy names the client it forwards.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"}

// ParseProxies reads trusted proxies: IP addresses or CIDR prefixes.
func ParseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		for item := range strings.SplitSeq(s, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if p, err := netip.ParsePrefix(item); err == nil {
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, err
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out, nil
}

// trustProxies serves a request that comes from one of the proxies (ParseProxies) as
// if it came from the client the proxy names: the last address of X-Forwarded-For that
// is not itself a trusted proxy (the ones before it are the client's to write), or else
// X-Real-IP, or else Forwarded's last for=. The forwarding headers are then removed, so
// that what follows sees one client, by its address. A request from anywhere else is
// served as it is, its forwarding headers kept (and distrusted). No proxies: h itself.
func trustProxies(proxies []netip.Prefix, h http.Handler) http.Handler {
	if len(proxies) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !trusted(proxies, hostOf(r.RemoteAddr)) {
			h.ServeHTTP(w, r)
			return
		}
		client, ok := forwardedClient(proxies, r.Header)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.RemoteAddr = net.JoinHostPort(client.String(), "0")
		for _, name := range forwardingHeaders {
			r2.Header.Del(name)
		}
		h.ServeHTTP(w, r2)
	})
}

// forwardedClient is the client that the forwarding headers name, past the trusted
// proxies.
func forwardedClient(proxies []netip.Prefix, hdr http.Header) (netip.Addr, bool) {
	if xff := hdr.Values("X-Forwarded-For"); len(xff) > 0 {
		var hops []string
		for _, v := range xff {
			hops = append(hops, strings.Split(v, ",")...)
		}
		return lastUntrusted(proxies, hops)
	}
	if v := hdr.Get("X-Real-Ip"); v != "" {
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		return a.Unmap(), err == nil
	}
	var hops []string
	for _, v := range hdr.Values("Forwarded") {
		for elem := range strings.SplitSeq(v, ",") {
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					val = strings.Trim(val, `"`)
					if strings.HasPrefix(val, "[") { // "[2001:db8::1]:4711"
						val, _, _ = strings.Cut(val[1:], "]")
					} else if h, _, err := net.SplitHostPort(val); err == nil {
						val = h
					}
					hops = append(hops, val)
				}
			}
		}
	}
	return lastUntrusted(proxies, hops)
}

// lastUntrusted is the last of hops (addresses, nearest last) that is not a trusted
// proxy, or the first if all are; false if that one is no address.
func lastUntrusted(proxies []netip.Prefix, hops []string) (netip.Addr, bool) {
	if len(hops) == 0 {
		return netip.Addr{}, false
	}
	pick := strings.TrimSpace(hops[0])
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if !trusted(proxies, h) {
			pick = h
			break
		}
	}
	a, err := netip.ParseAddr(pick)
	return a.Unmap(), err == nil
}

// trusted reports whether address host is in one of the proxies.
func trusted(proxies []netip.Prefix, host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hostOf is the host of a host:port address.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
