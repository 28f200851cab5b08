#!/usr/bin/env python3
"""Draws the panels of authenik8.json from a Prometheus server's data.

Each panel's PromQL is evaluated by Prometheus itself (query_range over the
recorded window, with the dashboard's $job and $__rate_interval filled in),
and the result is drawn where the dashboard's grid puts the panel, in
Grafana's dark colours. Grafana has no Debian package; this stands in for
its screenshot. Needs python3-matplotlib.

    render.py --prom http://127.0.0.1:9090 --start 1700000000 --end 1700000240 --out authenik8.png
"""

import argparse
import json
import os
import urllib.parse
import urllib.request
from datetime import datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

BG, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
PALETTE = ["#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a", "#37872d", "#c4162a"]
# Grafana's colours for outcomes that mean trouble.
FIXED = {"success": "#73bf69", "ok": "#73bf69", "rotated": "#73bf69", "hits": "#73bf69",
         "invalid_credentials": "#f2cc0c", "rate_limited": "#ff780a", "conflict": "#5794f2",
         "reused": "#f2495c", "reuse": "#f2495c", "token_revoked": "#b877d9", "misses": "#ff780a",
         "missing_token": "#8ab8ff", "invalid_token": "#f2cc0c", "logout": "#5794f2", "logout_all": "#b877d9",
         "invalid": "#fade2a", "evicted": "#ff780a"}


def query(prom, expr, start, end, step):
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prom}/api/v1/query_range?{q}") as r:
        body = json.load(r)
    if body["status"] != "success":
        raise SystemExit(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt, labels):
    out = fmt
    for k, v in labels.items():
        out = out.replace("{{" + k + "}}", v)
    return out


def fmt_value(v, unit):
    if unit == "percentunit":
        return f"{v * 100:.1f}%"
    if unit == "s":
        if v < 1e-6:
            return f"{v * 1e9:.0f} ns"
        if v < 1e-3:
            return f"{v * 1e6:.0f} µs"
        if v < 1:
            return f"{v * 1e3:.1f} ms"
        return f"{v:.2f} s"
    if unit in ("reqps", "ops"):
        return f"{v:.1f}/s" if v < 100 else f"{v:.0f}/s"
    return f"{v:.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prom", required=True)
    ap.add_argument("--start", type=float, required=True)
    ap.add_argument("--end", type=float, required=True)
    ap.add_argument("--dashboard", default=os.path.join(os.path.dirname(__file__), "authenik8.json"))
    ap.add_argument("--out", default="authenik8.png")
    ap.add_argument("--rate-interval", default="20s")
    a = ap.parse_args()
    dash = json.load(open(a.dashboard))
    rng = f"{int(a.end - a.start)}s"
    step = 2

    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dash["panels"])
    width, row_px, head_px = 1280, 30, 40
    height = rows * row_px + head_px
    fig = plt.figure(figsize=(width / 80, height / 80), dpi=80, facecolor=BG)
    when = datetime.utcfromtimestamp(a.end).strftime("%Y-%m-%d %H:%M UTC")
    fig.text(8 / width, 1 - 12 / height, f"{dash['title']} — {round((a.end - a.start) / 60)} minutes of the example server (gin, Redis) under examples/loadgen, {when}",
             color=TEXT, fontsize=13, ha="left", va="top")

    def place(g, stat):
        # The panel's cell, less room for its title, tick labels and legend.
        x0, x1 = g["x"] / 24 * width + 6, (g["x"] + g["w"]) / 24 * width - 6
        y0, y1 = g["y"] * row_px + head_px + 6, (g["y"] + g["h"]) * row_px + head_px - 6
        top, left, bottom = (22, 0, 0) if stat else (22, 52, 48)
        return [(x0 + left) / width, 1 - (y1 - bottom) / height, (x1 - x0 - left) / width, (y1 - y0 - top - bottom) / height]

    for p in dash["panels"]:
        g = p["gridPos"]
        ax = fig.add_axes(place(g, p["type"] == "stat"))
        ax.set_facecolor(PANEL)
        for s in ax.spines.values():
            s.set_color(GRID)
        ax.set_title(p["title"], color=TEXT, fontsize=10, loc="left")
        unit = p["fieldConfig"]["defaults"].get("unit", "short")
        series = []
        for t in p["targets"]:
            expr = t["expr"].replace('job=~"$job"', 'job=~".*"').replace("$__rate_interval", a.rate_interval).replace("$__range", rng)
            for r in query(a.prom, expr, a.start, a.end, step):
                xs = [datetime.utcfromtimestamp(float(v[0])) for v in r["values"]]
                ys = [float(v[1]) if v[1] not in ("NaN", "+Inf", "-Inf") else float("nan") for v in r["values"]]
                series.append((legend(t.get("legendFormat", ""), r["metric"]), xs, ys))
        if p["type"] == "stat":
            ax.set_xticks([])
            ax.set_yticks([])
            last = next((v for v in reversed(series[0][2]) if v == v), 0.0) if series else 0.0
            steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
            colour = steps[0]["color"]
            for s in steps[1:]:
                if last >= s["value"]:
                    colour = s["color"]
            colour = {"green": "#37872d", "red": "#c4162a", "orange": "#ff780a"}.get(colour, colour)
            ax.set_facecolor(colour)
            if series:
                xs, ys = series[0][1], series[0][2]
                ax.fill_between(xs, ys, color="white", alpha=0.12, linewidth=0)
            ax.text(0.5, 0.42, fmt_value(last, unit), color="white", fontsize=22, ha="center", va="center",
                    transform=ax.transAxes, fontweight="bold")
            continue
        ax.tick_params(colors=TEXT, labelsize=7)
        ax.grid(color=GRID, linewidth=0.5)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        custom = p["fieldConfig"]["defaults"]["custom"]
        stacked = custom["stacking"]["mode"] == "normal"
        if custom.get("scaleDistribution", {}).get("type") == "log":
            ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _, unit=unit: fmt_value(v, unit)))
        series.sort(key=lambda s: s[0])
        # Series that stay at zero are left out of the legend, as
        # Grafana's "hide series with only zeros" would.
        shown = [s for s in series if any(v and v == v for v in s[2])]
        base = None
        for i, (name, xs, ys) in enumerate(shown):
            key = name.split(" ", 1)[-1]
            colour = FIXED.get(key, PALETTE[i % len(PALETTE)])
            ys = [0.0 if v != v else v for v in ys] if stacked else ys
            if stacked:
                lo = base or [0.0] * len(ys)
                hi = [x + y for x, y in zip(lo, ys)]
                ax.fill_between(xs, lo, hi, color=colour, alpha=0.35, linewidth=0)
                ax.plot(xs, hi, color=colour, linewidth=1, label=name)
                base = hi
            else:
                ax.plot(xs, ys, color=colour, linewidth=1.2, label=name)
        if shown:
            ax.legend(loc="upper left", bbox_to_anchor=(0, -0.09), fontsize=7, ncol=min(7, len(shown)), facecolor=BG,
                      edgecolor=BG, labelcolor=TEXT, handlelength=1.2, columnspacing=1.0, borderaxespad=0)
    fig.savefig(a.out, facecolor=BG)
    try:  # a palette PNG is a fraction of the size
        from PIL import Image
        Image.open(a.out).convert("RGB").quantize(colors=128).save(a.out, optimize=True)
    except ImportError:
        pass


if __name__ == "__main__":
    main()
