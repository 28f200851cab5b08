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

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">Requests/s, %d connections, median of %d rounds</text>`+"\n", left, r.Conns, r.Rounds)
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555">%s</text>`+"\n", left, html.EscapeString(r.Machine+", "+r.Date))
	for v := 0.0; v <= top5+1; v += step {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, left+plotW, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%sk</text>`+"\n", left-6, y(v)+4, trim(v/1000))
	}
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
