package notify

import (
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
)

var devPage = template.Must(template.New("outbox").Funcs(template.FuncMap{"linkify": linkify}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dev outbox · handoff</title>
<style>
body{font:16px/1.45 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1b1f24}
header{background:#7a1f1f;color:#fff;padding:.8rem 1rem}header p{margin:.2rem 0 0;font-size:.9rem}
main{max-width:52rem;margin:0 auto;padding:1rem}
article{background:#fff;border:1px solid #d8dce2;border-radius:8px;padding:.8rem 1rem;margin:0 0 .8rem}
.meta{font-size:.85rem;color:#555}.ch{display:inline-block;padding:0 .4rem;border-radius:4px;background:#e6ecf5;margin-right:.4rem}
pre{white-space:pre-wrap;font:inherit;margin:.5rem 0 0}a{color:#0b57d0}
</style></head><body>
<header><strong>Development outbox</strong><p>No email or SMS provider is configured, so messages land here instead of a phone or inbox. Never use this in production: it shows passcodes.</p></header>
<main>
{{if not .}}<p>No messages yet.</p>{{end}}
{{range .}}<article>
<div class="meta"><span class="ch">{{.Channel}}</span>to <strong>{{.To}}</strong> · {{.Kind}} · {{.At.Format "2006-01-02 15:04:05"}} UTC · id {{.ID}}</div>
{{if .Subject}}<h3>{{.Subject}}</h3>{{end}}
<pre>{{linkify .Text}}</pre>
</article>{{end}}
</main></body></html>`))

// fromLoopback reports whether the request comes from this machine and not
// through a proxy on it (which would make the world look local).
func fromLoopback(r *http.Request) bool {
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip", "X-Forwarded-Host"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHost reports whether a request's Host names this machine by a
// loopback name or address — localhost, 127.0.0.0/8 or [::1], with or
// without a port. Any other name may be a site whose DNS was rebound to
// 127.0.0.1, so that a page of that site could read the outbox in the
// visitor's browser.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

var urlRe = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkify makes the links in a message clickable, escaping everything else.
func linkify(s string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range urlRe.FindAllStringIndex(s, -1) {
		b.WriteString(template.HTMLEscapeString(s[last:m[0]]))
		u := template.HTMLEscapeString(s[m[0]:m[1]])
		b.WriteString(`<a href="` + u + `">` + u + `</a>`)
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(s[last:]))
	return template.HTML(b.String())
}

// ServeHTTP shows the outbox as a page, or as JSON with ?format=json — only
// to a browser on the server's own machine that asked for a loopback host:
// the page shows passcodes, and a server left without a provider must not
// show them to the world, nor to a web page that rebound its own name to
// 127.0.0.1. Anyone else gets a bare 403 that says nothing.
func (o *DevOutbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !fromLoopback(r) || !loopbackHost(r.Host) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Header().Set("X-Robots-Tag", "noindex")
	msgs := o.List()
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		type out struct {
			ID      string `json:"id"`
			Kind    string `json:"kind"`
			Channel string `json:"channel"`
			To      string `json:"to"`
			Subject string `json:"subject,omitempty"`
			Text    string `json:"text"`
			At      string `json:"at"`
		}
		list := []out{}
		for _, m := range msgs {
			list = append(list, out{m.ID, m.Kind, m.Channel, m.To, m.Subject, m.Text, m.At.Format("2006-01-02T15:04:05Z")})
		}
		json.NewEncoder(w).Encode(map[string]any{"messages": list})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	devPage.Execute(w, msgs)
}
