package tide

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/queue"
)

// Page serves the queue-tide page at "/" and each message's story at
// "/explain/ID".
type Page struct {
	History *History
	Stats   func() queue.Stats
	// Listing reads the queue (queue.List of the spool).
	Listing func() (*queue.Listing, error)
	// Explain is a message's story, as ebb explain tells it (nil: the
	// journal is off).
	Explain func(id string) ([]string, error)
	// Notes are lines about the parts around the queue: open circuit
	// breakers of the scanners, suspended destinations.
	Notes func() []string
	// Certificates are the TLS certificates ebb serves (ACME's and
	// smtp.tls_cert's) and when they end; nil: none shown.
	Certificates func() []Certificate
	// Hosts are the other hosts sharing this one's directory (internal/
	// cluster), each with the queue summary it published; nil: one host.
	Hosts func() []HostView
	Now   func() time.Time
	Host  string
}

// Certificate is one line of the page's certificate table.
type Certificate struct {
	Name     string
	Source   string    // acme, smtp.tls_cert, …
	NotAfter time.Time // zero: none yet
	RenewAt  time.Time // zero: not renewed by ebb
	// Problem is why the last renewal failed, with its fix ("": none).
	Problem string
}

// certView is a Certificate as the page shows it.
type certView struct {
	Name, Source, Ends, Renew, Problem string
	Bad                                bool
}

// certWarn: a certificate closer than this to its end is shown in red.
const certWarn = 14 * 24 * time.Hour

func certViews(cs []Certificate, now time.Time) []certView {
	var out []certView
	for _, c := range cs {
		v := certView{Name: c.Name, Source: c.Source, Problem: c.Problem, Bad: c.Problem != ""}
		switch {
		case c.NotAfter.IsZero():
			v.Ends, v.Bad = "none yet", true
		case now.After(c.NotAfter):
			v.Ends, v.Bad = "expired "+c.NotAfter.Format(time.DateOnly), true
		default:
			left := c.NotAfter.Sub(now)
			v.Ends = fmt.Sprintf("%s (%d days)", c.NotAfter.Format(time.DateOnly), int(left.Hours()/24))
			v.Bad = v.Bad || left < certWarn
		}
		if !c.RenewAt.IsZero() {
			v.Renew = c.RenewAt.Format(time.DateOnly)
		}
		out = append(out, v)
	}
	return out
}

var windows = []struct {
	Key   string
	Label string
	Span  time.Duration
}{{"hour", "last hour", time.Hour}, {"day", "last day", 24 * time.Hour}, {"week", "last week", 7 * 24 * time.Hour}}

func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id, ok := strings.CutPrefix(r.URL.Path, "/explain/"); ok {
		p.serveExplain(w, id)
		return
	}
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	win := windows[0]
	for _, x := range windows {
		if r.URL.Query().Get("w") == x.Key {
			win = x
		}
	}
	v := view{Host: p.Host, Now: now.Format("2006-01-02 15:04:05 MST"), Window: win.Key, WindowLabel: win.Label}
	for _, x := range windows {
		v.Windows = append(v.Windows, link{Key: x.Key, Label: x.Label, Current: x.Key == win.Key})
	}
	st := p.Stats()
	v.Messages, v.Held = st.Messages, st.Held
	v.Pending, v.Deferred = st.Depth[queue.Pending], st.Depth[queue.Deferred]
	v.Delivered, v.Deferrals, v.Failed = st.Deliveries[queue.Delivered], st.Deliveries[queue.Deferred], st.Deliveries[queue.Failed]

	samples := p.History.Since(now.Add(-win.Span))
	// The live point: the page always ends at now.
	samples = append(samples, Sample{T: now, Messages: st.Messages, Pending: v.Pending, Deferred: v.Deferred,
		Delivered: v.Delivered, Deferrals: v.Deferrals, Failed: v.Failed})
	v.DepthChart = depthChart(samples, now.Add(-win.Span), now)
	v.RateChart = rateChart(Rates(samples), now.Add(-win.Span), now)
	v.Samples = len(samples) - 1

	l, err := p.Listing()
	sum := Summarize(st, l, err, now)
	v.ListError, v.Causes, v.Oldest = sum.ListError, sum.Causes, sum.Oldest
	if p.Hosts != nil {
		v.Hosts = p.Hosts()
	}
	if p.Notes != nil {
		v.Notes = p.Notes()
	}
	for _, c := range v.Causes {
		if strings.Contains(c.Reason, "suspended") {
			v.Notes = append(v.Notes, fmt.Sprintf("%d %s: %s", c.Count, c.State, c.Reason))
		}
	}
	if p.Certificates != nil {
		v.Certs = certViews(p.Certificates(), now)
	}
	v.HasExplain = p.Explain != nil
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// No outside asset, no script: the page's own CSP says so.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	if err := pageTmpl().Execute(w, v); err != nil {
		fmt.Fprintf(w, "<p>page error: %s</p>", template.HTMLEscapeString(err.Error()))
	}
}

func (p *Page) serveExplain(w http.ResponseWriter, id string) {
	id = strings.ToUpper(id)
	if !queue.ValidID(id) {
		http.Error(w, "not a queue id", http.StatusBadRequest)
		return
	}
	var lines []string
	var err error
	if p.Explain == nil {
		err = fmt.Errorf("the journal is off (journal.enabled)")
	} else {
		lines, err = p.Explain(id)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	msg := ""
	if err != nil {
		msg = err.Error()
	} else if len(lines) == 0 {
		// Nothing known: said, and not a 200 with an empty story.
		msg = "nothing in the journal about " + id
		w.WriteHeader(http.StatusNotFound)
	}
	explainTmpl().Execute(w, struct {
		ID    string
		Lines []string
		Err   string
	}{id, lines, msg})
}

type view struct {
	Host, Now, Window, WindowLabel string
	Windows                        []link
	Messages, Held                 int
	Pending, Deferred              int
	Delivered, Deferrals, Failed   uint64
	Samples                        int
	DepthChart, RateChart          template.HTML
	Causes                         []Cause
	Oldest                         []Oldest
	Hosts                          []HostView
	Notes                          []string
	ListError                      string
	HasExplain                     bool
	Certs                          []certView
}

type link struct {
	Key, Label string
	Current    bool
}

const chartW, chartH = 640.0, 160.0

// depthChart is the queue depth (messages, and recipients deferred) over
// [from, to] as inline SVG.
func depthChart(ss []Sample, from, to time.Time) template.HTML {
	max := 1.0
	for _, s := range ss {
		max = math.Max(max, float64(s.Messages))
	}
	x := func(t time.Time) float64 { return chartW * float64(t.Sub(from)) / float64(to.Sub(from)) }
	y := func(v float64) float64 { return chartH - chartH*v/max }
	var area, def strings.Builder
	fmt.Fprintf(&area, "M%.1f,%.1f", x(ss[0].T), chartH)
	for _, s := range ss {
		fmt.Fprintf(&area, " L%.1f,%.1f", x(s.T), y(float64(s.Messages)))
	}
	fmt.Fprintf(&area, " L%.1f,%.1f Z", x(ss[len(ss)-1].T), chartH)
	for i, s := range ss {
		c := "L"
		if i == 0 {
			c = "M"
		}
		fmt.Fprintf(&def, "%s%.1f,%.1f ", c, x(s.T), y(float64(s.Deferred)))
	}
	return template.HTML(fmt.Sprintf(`<svg viewBox="0 0 %.0f %.0f" role="img" aria-label="queue depth over time" class="chart">
<line x1="0" y1="%.0f" x2="%.0f" y2="%.0f" class="axis"/>
<path d="%s" class="depth"/>
<path d="%s" class="deferred"/>
<text x="4" y="14" class="lbl">%s</text><text x="4" y="%.0f" class="lbl">0</text>
</svg>`, chartW, chartH+2, chartH, chartW, chartH, area.String(), def.String(), template.HTMLEscapeString(fmt.Sprint(max)), chartH-4))
}

// rateChart is deliveries and deferrals per minute as bars.
func rateChart(rs []Rate, from, to time.Time) template.HTML {
	if len(rs) == 0 {
		return template.HTML(`<p class="muted">No rates yet: the first sample is taken at start, then one a minute.</p>`)
	}
	max := 1.0
	for _, r := range rs {
		max = math.Max(max, r.Delivered+r.Deferrals)
	}
	x := func(t time.Time) float64 { return chartW * float64(t.Sub(from)) / float64(to.Sub(from)) }
	var b strings.Builder
	prev := from
	for i, r := range rs {
		if i > 0 {
			prev = rs[i-1].T
		}
		// A bar spans the minute (or the gap) it counts, at least 1 unit.
		bw := math.Max(1, math.Min(x(r.T)-x(prev), chartW/60))
		hd := chartH * r.Delivered / max
		hf := chartH * r.Deferrals / max
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="ok"/>`, x(r.T)-bw, chartH-hd, bw, hd)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bad"/>`, x(r.T)-bw, chartH-hd-hf, bw, hf)
	}
	return template.HTML(fmt.Sprintf(`<svg viewBox="0 0 %.0f %.0f" role="img" aria-label="deliveries and deferrals per minute" class="chart">%s<text x="4" y="14" class="lbl">%.0f/min</text></svg>`,
		chartW, chartH+2, b.String(), max))
}

var funcs = template.FuncMap{"join": strings.Join, "plural": plural}

// plural is noun for the count n of any integer type: 1 sample, 2 samples.
func plural(n any, noun string) string {
	if fmt.Sprint(n) == "1" {
		return diag.Plural(1, noun)
	}
	return diag.Plural(2, noun)
}

// The templates are parsed on first use, not at init: every ebb command
// (sendmail, mailq, deliver) links this package (issue 16).
var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ebb queue tide{{if .Host}} — {{.Host}}{{end}}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2733;background:#f6f8fa}
main{max-width:960px;margin:auto;padding:12px}
h1{font-size:1.3em;margin:.3em 0}h2{font-size:1.05em;margin:1.2em 0 .4em}
.cards{display:flex;flex-wrap:wrap;gap:8px}
.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:8px 12px;min-width:120px;flex:1}
.card b{display:block;font-size:1.6em}
.chart{width:100%;height:auto;background:#fff;border:1px solid #d8dee4;border-radius:8px}
.depth{fill:#8fb8e8;stroke:#2f6fb5;stroke-width:1.5}.deferred{fill:none;stroke:#c0392b;stroke-width:2}
.ok{fill:#3c9a5f}.bad{fill:#c0392b;color:#c0392b}.axis{stroke:#aab}.lbl{font-size:11px;fill:#556}
table{width:100%;border-collapse:collapse;background:#fff;table-layout:fixed}td,th{overflow-wrap:anywhere;border-bottom:1px solid #e3e7eb;padding:6px;text-align:left;vertical-align:top}
.fix{color:#2d6a3e}.muted{color:#667}.win a{margin-right:10px}.cur{font-weight:bold}
code{font-size:.9em;word-break:break-all}
</style></head><body><main>
<h1>Queue tide{{if .Host}} on {{.Host}}{{end}}</h1>
<p class="muted">{{.Now}} · {{.Samples}} {{plural .Samples "sample"}} in the {{.WindowLabel}}</p>
<div class="cards">
<div class="card" id="depth">in the queue<b>{{.Messages}}</b>{{plural .Messages "message"}}{{if .Held}}, {{.Held}} held{{end}}</div>
<div class="card" id="deferred">deferred<b>{{.Deferred}}</b>{{plural .Deferred "recipient"}}</div>
<div class="card" id="pending">pending<b>{{.Pending}}</b>{{plural .Pending "recipient"}}</div>
<div class="card" id="delivered">since start<b>{{.Delivered}}</b>delivered, {{.Deferrals}} {{plural .Deferrals "deferral"}}, {{.Failed}} failed</div>
</div>
<h2>Queue depth</h2>
<p class="win">{{range .Windows}}<a href="/?w={{.Key}}"{{if .Current}} class="cur"{{end}}>{{.Label}}</a>{{end}}</p>
{{.DepthChart}}
<p class="muted">blue: messages in the queue; red: recipients deferred</p>
<h2>Deliveries and deferrals per minute</h2>
{{.RateChart}}
<h2>Why mail waits</h2>
{{if .ListError}}<p class="bad">{{.ListError}}</p>{{end}}
{{if .Causes}}<table id="causes"><tr><th style="width:6em">count</th><th>cause and fix</th></tr>
{{range .Causes}}<tr><td class="count">{{.Count}} {{.State}}</td><td><span class="reason">{{.Reason}}</span>{{if .Hint}}<br><span class="fix">fix: {{.Hint}}</span>{{end}}</td></tr>
{{end}}</table>{{else}}<p id="causes">Nothing waits for a reason: no deferrals.</p>{{end}}
{{if .Notes}}<h2>Around the queue</h2><ul id="notes">{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Certs}}<h2>Certificates</h2>
<table id="certs"><tr><th>name</th><th style="width:8em">from</th><th style="width:11em">ends</th><th style="width:7em">renewal</th></tr>
{{range .Certs}}<tr><td>{{.Name}}{{if .Problem}}<br><span class="bad">{{.Problem}}</span>{{end}}</td><td>{{.Source}}</td><td{{if .Bad}} class="bad"{{end}}>{{.Ends}}</td><td>{{.Renew}}</td></tr>
{{end}}</table>{{end}}
<h2>Oldest messages</h2>
{{if .Oldest}}<table id="oldest"><tr><th style="width:9em">id</th><th style="width:4em">age</th><th>from → waiting for</th></tr>
{{range .Oldest}}<tr><td>{{if $.HasExplain}}<a href="/explain/{{.ID}}">{{.ID}}</a>{{else}}{{.ID}}{{end}}</td><td>{{.Age}}</td><td>&lt;{{.From}}&gt; → {{join .Waiting ", "}} ({{.Size}}){{if .Reason}}<br><span class="muted">{{.Reason}}</span>{{end}}</td></tr>
{{end}}</table>{{else}}<p>The queue is empty.</p>{{end}}
{{if .Hosts}}<h2>Every host's queue</h2>
<table id="hosts"><tr><th style="width:11em">host</th><th style="width:8em">queue</th><th>why mail waits · oldest</th></tr>
{{range .Hosts}}<tr class="host"><td><b>{{.Name}}{{if .Self}} (this host){{end}}</b><br><span class="{{if .Live}}muted{{else}}bad{{end}}">{{.State}}</span>{{if .Page}}<br><span class="muted">page {{.Page}}</span>{{end}}</td>
<td>{{.Queue.Messages}} {{plural .Queue.Messages "message"}}<br>{{.Queue.Deferred}} deferred<br>{{.Queue.Pending}} pending</td>
<td>{{if .Queue.ListError}}<span class="bad">{{.Queue.ListError}}</span><br>{{end}}{{range .Queue.Causes}}<span class="reason">{{.Count}} {{.State}}: {{.Reason}}</span>{{if .Hint}} <span class="fix">fix: {{.Hint}}</span>{{end}}<br>{{end}}{{range .Queue.Oldest}}{{if $.HasExplain}}<a href="/explain/{{.ID}}">{{.ID}}</a>{{else}}{{.ID}}{{end}} {{.Age}} &lt;{{.From}}&gt; → {{join .Waiting ", "}}<br>{{end}}</td></tr>
{{end}}</table>{{end}}
<p class="muted">The same data: <code>ebb mailq</code>, <code>ebb explain ID</code>, <a href="/metrics">/metrics</a>.</p>
</main></body></html>
`))
})

var explainTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("explain").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ebb explain {{.ID}}</title>
<style>body{font:14px/1.5 system-ui,sans-serif;margin:0;background:#f6f8fa}main{max-width:960px;margin:auto;padding:12px}li{margin:.3em 0;word-break:break-word}</style>
</head><body><main><h1>Message {{.ID}}</h1>
{{if .Err}}<p>{{.Err}}</p>{{end}}
<ol id="story">{{range .Lines}}<li>{{.}}</li>{{end}}</ol>
<p><a href="/">back to the queue tide</a></p></main></body></html>
`))
})
