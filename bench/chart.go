package main

import (
	"fmt"
	"html"
	"strings"
)

// chart draws the median requests/s as grouped bars, one group per
// framework, with the ratios under each group: a plain SVG the README shows.
func chart(r *Results) string {
	const (
		w, h           = 760, 440
		left, top      = 70, 50
		plotW, plotH   = 660, 270
		barW, groupGap = 34, 60
	)
	colors := map[string]string{open: "#9aa5b1", authenik8: "#2b8a3e", peer: "#e8590c", naive: "#1c7ed6"}
	labels := map[string]string{open: "(a) open route", authenik8: "(b) authenik8, Redis", peer: "(c) stateless JWT peer", naive: "(d) jwx + Redis GET"}
	peak := 1.0
	for _, fw := range frameworks {
		for _, sc := range scenarios {
			peak = max(peak, r.Median[fw][sc])
		}
	}
	step := niceStep(peak / 5)
	top5 := step * float64(int(peak/step)+1)
	y := func(v float64) float64 { return top + plotH - v/top5*plotH }

	total := h
	if r.Population != nil {
		total += popH
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, total, w, total)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, total)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">Requests/s, %d connections, median of %d rounds</text>`+"\n", left, r.Conns, r.Rounds)
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555">%s</text>`+"\n", left, html.EscapeString(r.Machine+", "+r.Date))
	grid(&b, left, plotW, step, top5, y)
	groupW := float64(len(scenarios)*barW + groupGap)
	for i, fw := range frameworks {
		x0 := float64(left) + 30 + float64(i)*groupW*1.25
		for j, sc := range scenarios {
			v := r.Median[fw][sc]
			x := x0 + float64(j*barW)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s %s: %.0f req/s</title></rect>`+"\n",
				x, y(v), barW-4, float64(top+plotH)-y(v), colors[sc], fw, labels[sc], v)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%sk</text>`+"\n", x+float64(barW-4)/2, y(v)-4, trim(v/1000))
		}
		cx := x0 + float64(len(scenarios)*barW)/2
		q := r.Ratios[fw]
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-weight="bold">%s</text>`+"\n", cx, top+plotH+18, fw)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333">b/a %.2f · b/c %.2f · b/d %.2f</text>`+"\n", cx, top+plotH+34, q["b/a"], q["b/c"], q["b/d"])
	}
	for j, sc := range scenarios {
		x := left + j*165
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", x, h-58, colors[sc], x+16, h-48, labels[sc])
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#333">POST /auth/refresh on Redis: %s; the rotation script alone: %.0f ops/s</text>`+"\n",
		left, h-26, refreshSummary(r), r.FloorMed)
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#333">revocation seen by another process: p50 %.2f ms, p99 %.2f ms (n=%d)</text>`+"\n",
		left, h-8, r.Propagation.P50, r.Propagation.P99, r.Propagation.N)
	if r.Population != nil {
		populationChart(&b, r, h)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func refreshSummary(r *Results) string {
	var parts []string
	for _, fw := range frameworks {
		parts = append(parts, fmt.Sprintf("%s %.0f/s", fw, r.RefreshMed[fw]))
	}
	return strings.Join(parts, ", ")
}

// grid draws the horizontal lines and labels of a panel up to top5.
func grid(b *strings.Builder, left, plotW int, step, top5 float64, y func(float64) float64) {
	for v := 0.0; v <= top5+1; v += step {
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, left+plotW, y(v), y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%sk</text>`+"\n", left-6, y(v)+4, trim(v/1000))
	}
}

// popH is the height of the population panel.
const popH = 330

// populationChart draws the population panel below y0: per framework, the
// three designs' bars for 50 tokens, distinct tokens and the mix.
func populationChart(b *strings.Builder, r *Results, y0 int) {
	const (
		left, plotW, plotH = 70, 660, 200
		barW               = 18
	)
	p := r.Population
	top := y0 + 40
	colors := map[string]string{authenik8: "#2b8a3e", peer: "#e8590c", naive: "#1c7ed6"}
	shade := map[string]string{hot: "1", distinct: "0.45", mix: "0.72"}
	peak := 1.0
	for _, fw := range frameworks {
		for _, d := range popDesigns {
			for _, l := range popLoads {
				peak = max(peak, p.Median[fw][d][l])
			}
		}
	}
	step := niceStep(peak / 5)
	top5 := step * float64(int(peak/step)+1)
	y := func(v float64) float64 { return float64(top+plotH) - v/top5*plotH }
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="15" font-weight="bold">%d sessions: 50 tokens, every token new (distinct), each token %d× in random order (mix)</text>`+"\n", left, y0+20, p.Sessions, p.Reuse)
	grid(b, left, plotW, step, top5, y)
	groupW := float64(len(popDesigns)*len(popLoads)*barW) + 40
	for i, fw := range frameworks {
		x0 := float64(left) + 20 + float64(i)*(groupW+20)
		for j, d := range popDesigns {
			for k, l := range popLoads {
				v := p.Median[fw][d][l]
				x := x0 + float64((j*len(popLoads)+k)*barW) + float64(j*6)
				fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s" fill-opacity="%s"><title>%s %s %s: %.0f req/s</title></rect>`+"\n",
					x, y(v), barW-3, float64(top+plotH)-y(v), colors[d], shade[l], fw, popLabels[d], l, v)
			}
		}
		cx := x0 + groupW/2 - 20
		q := p.Ratios[fw]
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" font-weight="bold">%s</text>`+"\n", cx, top+plotH+18, fw)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333">distinct: %.2f of 50 tokens, %.2f of peer</text>`+"\n", cx, top+plotH+34, q["distinct/tokens50"], q["distinct/peer"])
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="#333">bars per design: 50 tokens (solid), distinct (light), mix (mid); green authenik8, orange stateless peer, blue naive</text>`+"\n", left, top+plotH+56)
	if m := r.Memory; m != nil {
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#333">examples/gin resident memory: %.0f MB before, %.0f MB after %d distinct sessions</text>`+"\n", left, top+plotH+74, m.BeforeMB, m.AfterMB, m.Sessions)
	}
}

// niceStep rounds a grid step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	p := 1.0
	for p*10 <= raw {
		p *= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func trim(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}
