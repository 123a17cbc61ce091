#!/usr/bin/env python3
"""Draws bench/serve results (results.tsv) as an SVG bar chart: msgs/s of
Postfix and ebb per message size and session count. No libraries needed."""
import sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
out = sys.argv[2]
groups = [(f"{int(r[0])//1024} KiB, {r[1]} sess", float(r[2]), float(r[3]), r[4]) for r in rows]
# The disk's durable-create rate of the same run (column 8, when present).
disk = [float(r[7]) if len(r) > 7 and r[7] else 0.0 for r in rows]
W, H, left, bottom, top = 120 * len(groups) + 120, 420, 70, 70, 40
vmax = max([max(g[1], g[2]) for g in groups] + disk + [1]) * 1.15
ph = H - bottom - top
def y(v): return top + ph - ph * v / vmax
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="20" text-anchor="middle" font-size="15">ebb serve vs Postfix 3.7: delivered msgs/s (smtp-source → Maildir)</text>']
for i in range(6):
    v = vmax * i / 5
    svg.append(f'<line x1="{left}" x2="{W-20}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
    svg.append(f'<text x="{left-6}" y="{y(v)+4:.1f}" text-anchor="end">{v:.0f}</text>')
for i, (label, pf, ebb, ratio) in enumerate(groups):
    x = left + 20 + i * 120
    for j, (v, color) in enumerate([(pf, "#8c8c8c"), (ebb, "#2b7bb9")]):
        svg.append(f'<rect x="{x + j*42}" y="{y(v):.1f}" width="40" height="{top+ph-y(v):.1f}" fill="{color}"/>')
        svg.append(f'<text x="{x + j*42 + 20}" y="{y(v)-4:.1f}" text-anchor="middle" font-size="10">{v:.0f}</text>')
    if disk[i]:
        svg.append(f'<line x1="{x-4}" x2="{x+86}" y1="{y(disk[i]):.1f}" y2="{y(disk[i]):.1f}" stroke="#c0392b" stroke-dasharray="4 3"/>')
    svg.append(f'<text x="{x+41}" y="{top+ph+18}" text-anchor="middle">{label}</text>')
    svg.append(f'<text x="{x+41}" y="{top+ph+34}" text-anchor="middle" font-weight="bold">{ratio}×</text>')
svg.append(f'<rect x="{W-200}" y="34" width="12" height="12" fill="#8c8c8c"/><text x="{W-184}" y="45">Postfix (virtual → Maildir)</text>')
svg.append(f'<rect x="{W-200}" y="52" width="12" height="12" fill="#2b7bb9"/><text x="{W-184}" y="63">ebb serve</text>')
if any(disk):
    svg.append(f'<line x1="{W-200}" x2="{W-188}" y1="76" y2="76" stroke="#c0392b" stroke-dasharray="4 3"/><text x="{W-184}" y="81">disk: durable creates/s</text>')
svg.append("</svg>")
open(out, "w").write("\n".join(svg) + "\n")
