// The operator's dashboard: usage over the last hour, day or week, what used the most, what
// needs a look. Refreshes itself every 15 seconds.

import { get } from "../api.js";
import { timeChart } from "../charts.js";
import { badge, clear, empty, errorBox, every, h, ms, number, pageHead, percent, usd } from "../ui.js";

const RANGES = [["hour", "Last hour"], ["day", "Last day"], ["week", "Last week"]];

export function rangeControl(initial, onChange) {
  const group = h("div.segmented", { role: "group", "aria-label": "Time range" });
  const buttons = RANGES.map(([value, label]) => {
    const button = h("button", { type: "button", text: label, "aria-pressed": String(value === initial), dataset: { range: value } });
    button.addEventListener("click", () => {
      buttons.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      onChange(value);
    });
    return button;
  });
  group.append(...buttons);
  return group;
}

export function tile(label) {
  const value = h("div.value", { text: "—" });
  const sub = h("div.sub");
  const el = h("div.panel.tile", {}, h("div.label", { text: label }), value, sub);
  el.set = (text, detail = "") => {
    value.textContent = text;
    sub.textContent = detail;
  };
  return el;
}

export function chartBox(title, id) {
  const box = h("div.chart", { id, role: "img", "aria-label": title });
  return { el: h("div.panel.chart-box", {}, h("h3", { text: title }), box), box };
}

/** The four usage charts of a range; answers {el, update(usage), destroy()}. */
export function usageCharts({ withErrors = true } = {}) {
  const boxes = {
    requests: chartBox("Requests", "chart-requests"),
    spend: chartBox("Spend", "chart-spend"),
    errors: chartBox("Error rate", "chart-errors"),
    latency: chartBox("Latency p95", "chart-latency"),
  };
  const charts = {
    requests: timeChart(boxes.requests.box, [
      { label: "requests", color: "--chart-1", format: number, axis: (v) => number(Math.round(v)), integer: true },
      { label: "errors", color: "--chart-2", format: number, line: true },
    ], { bars: true }),
    spend: timeChart(boxes.spend.box, [{ label: "spend", color: "--chart-3", format: (v) => usd(Math.round(v)), axis: (v) => usd(Math.round(v)) }]),
    errors: withErrors ? timeChart(boxes.errors.box, [{ label: "error rate", color: "--chart-2", format: (v) => `${v.toFixed(1)}%`, axis: (v) => `${+v.toFixed(1)}%` }]) : null,
    latency: timeChart(boxes.latency.box, [{ label: "p95", color: "--chart-4", format: ms, axis: (v) => (v >= 1000 ? `${+(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`) }]),
  };
  const shown = withErrors ? ["requests", "spend", "errors", "latency"] : ["requests", "spend", "latency"];
  const el = h(`div.grid.${withErrors ? "two" : "three"}`, {}, shown.map((name) => boxes[name].el));
  return {
    el,
    update(usage) {
      const times = usage.series.map((p) => new Date(p.start).getTime() / 1000);
      charts.requests.update(times, usage.series.map((p) => p.requests), usage.series.map((p) => p.errors));
      charts.spend.update(times, usage.series.map((p) => p.cost));
      charts.errors?.update(times, usage.series.map((p) => (p.requests ? (100 * p.errors) / p.requests : 0)));
      charts.latency.update(times, usage.series.map((p) => p.latency_p95_ms));
    },
    destroy() {
      Object.values(charts).forEach((chart) => chart?.destroy());
    },
  };
}

export function topList(items, { unit = "cost", empty: emptyText, link } = {}) {
  if (!items.length) return empty(emptyText || "Nothing in this range yet.");
  return h("ul.list", {}, items.map((item) => h("li", {},
    link ? h("a", { href: link(item), text: item.name }) : h("span", { text: item.name }),
    h("span.num", { text: `${number(item.requests)} req · ${usd(item[unit])}${item.errors ? ` · ${number(item.errors)} err` : ""}` }))));
}

export function fillTiles(tiles, totals) {
  tiles.requests.set(number(totals.requests), `${number(totals.prompt_tokens)} in / ${number(totals.completion_tokens)} out tokens`);
  tiles.spend.set(usd(totals.cost));
  tiles.errors.set(percent(totals.error_rate), `${number(totals.errors)} failed`);
  tiles.latency.set(ms(totals.latency_p95_ms), `p50 ${ms(totals.latency_p50_ms)}`);
}

export async function render(main) {
  let range = "day";
  const status = h("p.hint", { "aria-live": "polite" });
  main.append(pageHead("Overview", "Traffic, spend and health across every user and channel.", rangeControl(range, (value) => { range = value; refresh(); })));
  const tiles = { requests: tile("Requests"), spend: tile("Spend"), errors: tile("Error rate"), latency: tile("Latency p95") };
  const charts = usageCharts();
  const models = h("div", {}, h("p.loading", { text: "Loading…" }));
  const users = h("div", {}, h("p.loading", { text: "Loading…" }));
  const channels = h("div", {}, h("p.loading", { text: "Loading…" }));
  const inflight = h("div", {}, h("p.loading", { text: "Loading…" }));
  const problem = h("div");
  main.append(h("div.stack", {},
    problem,
    h("div.grid.tiles", {}, Object.values(tiles)),
    charts.el,
    h("div.grid.two", {},
      h("section.panel", { "aria-labelledby": "top-models" }, h("h2", { id: "top-models", text: "Top models" }), models),
      h("section.panel", { "aria-labelledby": "top-users" }, h("h2", { id: "top-users", text: "Top users" }), users),
      h("section.panel", { "aria-labelledby": "trouble" }, h("h2", { id: "trouble", text: "Channels in trouble" }), channels),
      h("section.panel", { "aria-labelledby": "in-flight" }, h("div.panel-head", {}, h("h2", { id: "in-flight", text: "Tasks in flight" }), h("a", { href: "#/tasks?status=in_flight", text: "Open the gallery" })), inflight)),
    status));

  async function refresh() {
    try {
      const data = await get("/admin/overview", { range });
      problem.replaceChildren();
      fillTiles(tiles, data.usage.totals);
      charts.update(data.usage);
      clear(models, topList(data.usage.top_models, { link: (m) => `#/log?model=${encodeURIComponent(m.id)}` }));
      clear(users, topList(data.top_users, { link: (u) => (u.id ? `#/log?user_id=${u.id}` : "#/log") }));
      clear(channels, data.channels_in_trouble.length
        ? h("ul.list", {}, data.channels_in_trouble.map((t) => h("li", {},
          h("a", { href: `#/channels?focus=${t.channel.id}`, text: `${t.channel.name} (${t.vendor})` }),
          h("span", {}, badge(t.reason, t.channel.cooling_down_seconds > 0 ? "bad" : "warn")))))
        : empty("Every enabled channel is healthy."));
      const total = data.tasks_in_flight.reduce((sum, row) => sum + row.count, 0);
      clear(inflight, total
        ? h("ul.list", {}, data.tasks_in_flight.map((row) => h("li", {},
          h("span", { text: row.vendor }), h("span.num", {}, badge(row.status, "info"), ` ${number(row.count)}`))))
        : empty("No task is running."));
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      clear(problem, errorBox(error));
    }
  }
  await refresh();
  const stop = every(15, refresh);
  return () => {
    stop();
    charts.destroy();
  };
}
