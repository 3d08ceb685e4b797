#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# svg-plot.sh TITLE XLABEL YLABEL OUT.svg < DATA
#
# A small line chart for make bench (scripts/bench.sh), in plain SVG: no
# plotting package needed. DATA is one point per line, "SERIES X Y" (SERIES
# one word; X > 0, plotted on a log2 scale; Y on a linear scale from 0, or
# from the lowest Y if that is negative). Each series is a polyline with
# its points marked, in the order given, and named in the legend; a line
# "- X LABEL" names the tick at X (default: X itself).
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: svg-plot.sh TITLE XLABEL YLABEL OUT.svg < DATA" >&2; exit 2; }
title=$1 xlabel=$2 ylabel=$3 out=$4
trap 'rm -f -- "$out.tmp"' EXIT

awk -v title="$title" -v xlabel="$xlabel" -v ylabel="$ylabel" '
function esc(s) {
	gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s)
	return s
}
function px(x) { return L + (log(x) - lx0) / (lx1 - lx0) * (W - L - R) }
function py(y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B) }
$1 == "-" { tick[$2] = $3; next }
NF >= 3 {
	if (!($1 in seen)) { seen[$1] = 1; names[++ns] = $1 }
	n[$1]++; X[$1, n[$1]] = $2; Y[$1, n[$1]] = $3
	if ($2 <= 0) { print "svg-plot: X must be > 0: " $0 > "/dev/stderr"; bad = 1; exit 2 }
	if (!np++ || $2 < xmin) xmin = $2
	if (np == 1 || $2 > xmax) xmax = $2
	if (np == 1 || $3 > ymax) ymax = $3
	if (np == 1 || $3 < ymin) ymin = $3
	xs[$2] = 1
}
END {
	if (bad) exit 2
	if (!np) { print "svg-plot: no data" > "/dev/stderr"; exit 2 }
	W = 640; H = 400; L = 80; R = 160; T = 40; B = 60
	lx0 = log(xmin); lx1 = log(xmax)
	if (lx1 == lx0) { lx0 -= 1; lx1 += 1 }
	y0 = ymin < 0 ? ymin : 0; y1 = ymax > y0 ? ymax + 0.1 * (ymax - y0) : y0 + 1
	split("#1f77b4 #d62728 #2ca02c #9467bd #ff7f0e #8c564b", col, " ")
	printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H
	printf "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H
	printf "<text x=\"%d\" y=\"22\" font-size=\"14\">%s</text>\n", L, esc(title)
	printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, H - B, W - R, H - B
	printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, T, L, H - B
	for (x in xs) {
		printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", px(x), H - B, px(x), H - B + 5
		printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", px(x), H - B + 20, esc(x in tick ? tick[x] : x)
	}
	for (i = 0; i <= 4; i++) {
		y = y0 + (y1 - y0) * i / 4
		printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, py(y), W - R, py(y)
		printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", L - 6, py(y) + 4, y
	}
	printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", (L + W - R) / 2, H - 15, esc(xlabel)
	printf "<text transform=\"translate(18,%d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", (T + H - B) / 2, esc(ylabel)
	for (s = 1; s <= ns; s++) {
		name = names[s]; c = col[(s - 1) % 6 + 1]; pts = ""
		for (i = 1; i <= n[name]; i++) {
			pts = pts sprintf("%.1f,%.1f ", px(X[name, i]), py(Y[name, i]))
			printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(X[name, i]), py(Y[name, i]), c
		}
		printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", pts, c
		printf "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"4\" fill=\"%s\"/>\n", W - R + 12, T + 18 * s - 4, c
		printf "<text x=\"%d\" y=\"%d\">%s</text>\n", W - R + 30, T + 18 * s + 2, esc(name)
	}
	print "</svg>"
}' >"$out.tmp"
mv -- "$out.tmp" "$out"
