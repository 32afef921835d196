// Time-series charts on uPlot (vendored, MIT): sized to their box, coloured from the theme.

import uPlot from "../vendor/uplot/uPlot.esm.js";

// Steps of an axis that counts things: never half a request.
const COUNTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7];

function themeColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

function withAlpha(color, alpha) {
  // #rrggbb → rgba(); other notations are left as they are.
  const match = /^#([0-9a-f]{6})$/i.exec(color);
  if (!match) return color;
  const n = parseInt(match[1], 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/**
 * A chart in ``box`` (whose height the stylesheet fixes, so nothing moves when it draws).
 * ``lines``: [{label, color: "--chart-1", format(v) → text}]. Answers {update(times, ...values),
 * destroy()}; times are epoch seconds.
 */
export function timeChart(box, lines, { bars = false } = {}) {
  let plot = null;
  let data = [[], ...lines.map(() => [])];
  const axisColor = themeColor("--muted");
  const gridColor = themeColor("--line");

  const options = () => ({
    width: Math.max(box.clientWidth, 200),
    height: Math.max(box.clientHeight - 30, 120),
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    scales: {
      // Bars are centred on their time: half a step of room at either end keeps them whole.
      x: { time: true, range: (u, min, max) => {
        const step = data[0].length > 1 ? (max - min) / (data[0].length - 1) : 60;
        return bars ? [min - step / 2, max + step / 2] : [min, max];
      } },
      y: { range: (_u, min, max) => [0, Math.max(max, min + 1) * 1.1] },
    },
    axes: [
      { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } },
      {
        stroke: axisColor,
        grid: { stroke: gridColor, width: 1 },
        ticks: { stroke: gridColor },
        // Wide enough for its longest label ($0.000003 as well as 12).
        size: (_u, values) => (values ? Math.max(36, Math.max(...values.map((v) => String(v).length)) * 7 + 16) : 48),
        incrs: lines[0].integer ? COUNTS : undefined,
        values: (_u, splits) => splits.map((v) => (lines[0].axis ? lines[0].axis(v) : String(v))),
      },
    ],
    series: [
      { label: "time", value: (_u, v) => (v == null ? "—" : new Date(v * 1000).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })) },
      ...lines.map((line) => {
        const color = themeColor(line.color);
        return {
          label: line.label,
          stroke: color,
          width: 2,
          points: { show: false },
          fill: bars && line.line ? undefined : withAlpha(color, 0.14),
          paths: bars && !line.line ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined,
          value: (_u, v) => (v == null ? "—" : line.format ? line.format(v) : String(v)),
        };
      }),
    ],
  });

  const draw = () => {
    plot?.destroy();
    box.replaceChildren();
    plot = new uPlot(options(), data, box);
  };
  const observer = new ResizeObserver(() => {
    if (plot && Math.abs(plot.width - box.clientWidth) > 4) plot.setSize({ width: Math.max(box.clientWidth, 200), height: plot.height });
  });
  observer.observe(box);
  // Redraw in the other scheme's colours when the system switches between light and dark.
  const scheme = matchMedia("(prefers-color-scheme: dark)");
  const onScheme = () => draw();
  scheme.addEventListener("change", onScheme);

  return {
    update(times, ...values) {
      data = [times, ...values];
      if (!plot) draw();
      else plot.setData(data);
      box.dataset.points = String(times.length);
      box.dataset.filled = String(values.some((v) => v.some((x) => x > 0)));
    },
    destroy() {
      observer.disconnect();
      scheme.removeEventListener("change", onScheme);
      plot?.destroy();
      plot = null;
    },
  };
}
