#!/usr/bin/env python3
"""Draws bench/deliver results (results.tsv: agent, msgs/s, median ms per
message) as an SVG bar chart of the median time of one delivery, with
maildrop's time and the time 1.5x maildrop's rate allows marked. No
libraries needed.  Usage: chart.py results.tsv out.svg"""
import sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
out = sys.argv[2]
agents = [(r[0], float(r[1]), float(r[2])) for r in rows]
md = next(ms for a, _, ms in agents if a == "maildrop")
W, left, right, top, bar = 760, 150, 70, 40, 26
H = top + len(agents) * (bar + 8) + 50
vmax = max(ms for _, _, ms in agents) * 1.1
def x(v): return left + (W - left - right) * v / vmax
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="22" text-anchor="middle" font-size="15">One delivery of a 4 KiB message, one process each: median ms (shorter is faster)</text>']
for i, (a, rate, ms) in enumerate(agents):
    yy = top + i * (bar + 8)
    color = "#2b7bb9" if a.startswith("ebb") else ("#bbbbbb" if a in ("true (C)", "noop (Go)", "inits, SQLite", "inits (Go)", "floor (Go)", "floor, file only") else "#8c8c8c")
    svg.append(f'<text x="{left-8}" y="{yy+bar/2+4}" text-anchor="end">{a}</text>')
    svg.append(f'<rect x="{left}" y="{yy}" width="{x(ms)-left:.1f}" height="{bar}" fill="{color}"/>')
    svg.append(f'<text x="{x(ms)+4:.1f}" y="{yy+bar/2+4}">{ms:.2f} ms, {rate:.0f}/s</text>')
bottom = top + len(agents) * (bar + 8)
for v, label, color, anchor in [(md, "maildrop", "#555", "start"), (md / 1.5, "1.5x maildrop's rate ", "#c0392b", "end")]:
    svg.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top-6}" y2="{bottom}" stroke="{color}" stroke-dasharray="4 3"/>')
    svg.append(f'<text x="{x(v):.1f}" y="{bottom+16}" text-anchor="{anchor}" fill="{color}">{label}</text>')
svg.append(f'<text x="{left}" y="{H-10}" fill="#555">grey: reference programs (no-ops, linking only, the Go floors: bench/deliver/run.sh); blue: ebb</text>')
svg.append("</svg>")
open(out, "w").write("\n".join(svg))
