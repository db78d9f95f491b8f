/**
 * A small SVG bar chart for benchmark figures: panels side by side, each with grouped bars per
 * category and the value written on every bar. No dependency; the output is a standalone SVG file.
 */
export interface ChartPanel {
  title: string;
  series: { name: string; values: number[] }[];
}

export interface ChartSpec {
  title: string;
  categories: string[];
  panels: ChartPanel[];
}

const COLORS = ['#2f6fdf', '#f08c2e', '#3aa55d', '#9b59b6'];
const PANEL_WIDTH = 340;
const PANEL_HEIGHT = 260;
const TOP = 56;
const PLOT_TOP = 40;
const PLOT_BOTTOM = 50;
const MARGIN = 20;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function label(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value >= 10_000) return `${(value / 1000).toFixed(0)}k`;
  if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
  if (value >= 100) return value.toFixed(0);
  return value.toFixed(1);
}

export function barChart(spec: ChartSpec): string {
  const width = MARGIN + spec.panels.length * (PANEL_WIDTH + MARGIN);
  const height = TOP + PANEL_HEIGHT + MARGIN;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" role="img">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${MARGIN}" y="30" font-size="16" font-weight="600" fill="#1d2330">${escapeXml(spec.title)}</text>`,
  ];
  spec.panels.forEach((panel, p) => {
    const x0 = MARGIN + p * (PANEL_WIDTH + MARGIN);
    const plotHeight = PANEL_HEIGHT - PLOT_TOP - PLOT_BOTTOM;
    const max = Math.max(...panel.series.flatMap((s) => s.values.filter(Number.isFinite)), 1e-9);
    const groupWidth = PANEL_WIDTH / spec.categories.length;
    const barWidth = Math.min(40, (groupWidth - 16) / panel.series.length);
    const baseline = TOP + PLOT_TOP + plotHeight;
    parts.push(
      `<rect x="${x0}" y="${TOP}" width="${PANEL_WIDTH}" height="${PANEL_HEIGHT}" fill="#f6f8fb" rx="8"/>`,
      `<text x="${x0 + 12}" y="${TOP + 24}" font-size="13" font-weight="600" fill="#1d2330">${escapeXml(panel.title)}</text>`,
      `<line x1="${x0 + 8}" y1="${baseline}" x2="${x0 + PANEL_WIDTH - 8}" y2="${baseline}" stroke="#9aa4b2"/>`,
    );
    spec.categories.forEach((category, c) => {
      const groupX = x0 + c * groupWidth + (groupWidth - barWidth * panel.series.length) / 2;
      panel.series.forEach((series, s) => {
        const value = series.values[c] ?? Number.NaN;
        const h = Number.isFinite(value) ? (value / max) * plotHeight : 0;
        const x = groupX + s * barWidth;
        parts.push(
          `<rect x="${x.toFixed(1)}" y="${(baseline - h).toFixed(1)}" width="${(barWidth - 3).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[s % COLORS.length]}" rx="2"/>`,
          `<text x="${(x + (barWidth - 3) / 2).toFixed(1)}" y="${(baseline - h - 4).toFixed(1)}" font-size="10" text-anchor="middle" fill="#1d2330">${label(value)}</text>`,
        );
      });
      parts.push(
        `<text x="${(x0 + c * groupWidth + groupWidth / 2).toFixed(1)}" y="${baseline + 18}" font-size="11" text-anchor="middle" fill="#1d2330">${escapeXml(category)}</text>`,
      );
    });
    if (panel.series.length > 1) {
      panel.series.forEach((series, s) => {
        const lx = x0 + 12 + s * 150;
        const ly = TOP + PANEL_HEIGHT - 14;
        parts.push(
          `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${COLORS[s % COLORS.length]}" rx="2"/>`,
          `<text x="${lx + 14}" y="${ly}" font-size="11" fill="#1d2330">${escapeXml(series.name)}</text>`,
        );
      });
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
