/**
 * A small line chart drawn as inline SVG: x = sampling steps on a log₂ axis (or optimizer steps on a
 * linear one), one line per series. Self-contained (no scripts, no external fonts) so the report stays
 * one file. The chart carries `data-chart` and each series `data-series` (the browser test reads them).
 */

export interface ChartSeries {
  name: string;
  points: Array<{ x: number; y: number }>;
}

export interface LineChartOptions {
  title: string;
  yLabel: string;
  xLabel?: string;
  width?: number;
  height?: number;
  /** Force the y range (e.g. [0, 1] for accuracy); default: from the data with 5% margins. */
  yRange?: [number, number];
  /** x axis: log₂ with a tick at every x (sampling steps, the default) or linear with 5 ticks (training steps). */
  xScale?: 'log2' | 'linear';
  /** Identifies the chart in the page (`data-chart`). */
  id?: string;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' }[ch]!));
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

export function lineChartSvg(series: ChartSeries[], options: LineChartOptions): string {
  const width = options.width ?? 520;
  const height = options.height ?? 320;
  const m = { left: 60, right: 170, top: 30, bottom: 45 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const linear = options.xScale === 'linear';
  const usable = (p: { x: number; y: number }) => Number.isFinite(p.y) && Number.isFinite(p.x) && (linear || p.x > 0);
  const all = series.flatMap((s) => s.points).filter(usable);
  const xs = [...new Set(all.map((p) => p.x))].sort((a, b) => a - b);
  const lx = (x: number) => (linear ? x : Math.log2(x));
  const xMin = xs.length ? lx(xs[0]) : 0;
  const xMax = xs.length ? lx(xs[xs.length - 1]) : 1;
  const xTicks = linear && xs.length ? Array.from({ length: 5 }, (_, i) => Math.round(xs[0] + ((xs[xs.length - 1] - xs[0]) * i) / 4)) : xs;
  let [yMin, yMax] = options.yRange ?? [Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))];
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) [yMin, yMax] = [0, 1];
  if (!options.yRange) {
    const pad = (yMax - yMin || Math.abs(yMax) || 1) * 0.05;
    yMin = Math.max(0, yMin - pad);
    yMax += pad;
  }
  const px = (x: number) => m.left + (xMax === xMin ? pw / 2 : ((lx(x) - xMin) / (xMax - xMin)) * pw);
  const py = (y: number) => m.top + ph - ((y - yMin) / (yMax - yMin || 1)) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11"${options.id ? ` data-chart="${escapeXml(options.id)}"` : ''}>`);
  out.push(`<text x="${m.left}" y="18" font-size="13" font-weight="bold">${escapeXml(options.title)}</text>`);
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  // Tick labels with enough digits to tell neighbouring ticks apart (a narrow loss range needs more than fmt's).
  const tickStep = (yMax - yMin) / 4;
  const tickDigits = tickStep > 0 ? Math.min(8, Math.max(0, 1 - Math.floor(Math.log10(tickStep)))) : 2;
  const tick = (y: number) => (tickStep > 0 && tickStep < 1 && Math.abs(y) < 1e4 ? y.toFixed(tickDigits) : fmt(y));
  for (let i = 0; i <= 4; i++) {
    const y = yMin + ((yMax - yMin) * i) / 4;
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${m.left - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${tick(y)}</text>`);
  }
  for (const x of [...new Set(xTicks)]) {
    out.push(`<text x="${px(x).toFixed(1)}" y="${m.top + ph + 16}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<text x="${m.left + pw / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(options.xLabel ?? 'sampling steps (log scale)')}</text>`);
  out.push(`<text transform="translate(14 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const pts = s.points.filter(usable).sort((a, b) => a.x - b.x);
    if (pts.length > 1) {
      out.push(`<polyline data-series="${escapeXml(s.name)}" data-points="${pts.length}" fill="none" stroke="${colour}" stroke-width="2" points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`);
    }
    // Long training curves: dots only where they stay readable.
    if (pts.length <= 40) for (const p of pts) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${colour}"><title>${escapeXml(`${s.name}: ${linear ? 'step ' : ''}${p.x}${linear ? '' : ' steps'} → ${fmt(p.y)}`)}</title></circle>`);
    const ly = m.top + 10 + i * 18;
    out.push(`<line x1="${m.left + pw + 12}" x2="${m.left + pw + 30}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    out.push(`<text x="${m.left + pw + 34}" y="${ly + 4}" data-legend="${escapeXml(s.name)}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
