// A user's dashboard: balance, usage charts, top models, redeeming a code, the ledger.

import { api, get } from "../api.js";
import { badge, busy, clear, empty, errorBox, errorSlot, every, field, h, pageHead, table, usd, when } from "../ui.js";
import { fillTiles, rangeControl, tile, topList, usageCharts } from "./overview.js";

export async function render(main, { who }) {
  let range = "day";
  main.append(pageHead(`Hello, ${who.user_name || who.key_name}`, `Group ${who.group}. Everything here is yours only.`,
    rangeControl(range, (value) => { range = value; refresh(); })));
  const balance = h("div.balance", { id: "balance", "aria-live": "polite", text: "—" });
  const balanceSub = h("p.hint");
  const code = h("input", { name: "code", required: true, autocomplete: "off", placeholder: "or-…", spellcheck: "false" });
  const redeem = h("button.primary", { type: "submit", text: "Redeem" });
  const slot = errorSlot();
  const done = h("p.notice", { role: "status", hidden: true });
  const form = h("form.form", { "aria-label": "Redeem a code" }, field("Redemption code", code), slot, done, h("div.form-actions", {}, redeem));
  const tiles = { requests: tile("Requests"), spend: tile("Spend"), errors: tile("Error rate"), latency: tile("Latency p95") };
  const charts = usageCharts({ withErrors: false });
  const models = h("div");
  const ledger = h("div");
  const problem = h("div");
  main.append(h("div.stack", {},
    problem,
    h("div.grid.two", {},
      h("section.panel", { "aria-labelledby": "bal-h" }, h("h2", { id: "bal-h", text: "Balance" }), balance, balanceSub),
      h("section.panel", { "aria-labelledby": "redeem-h" }, h("h2", { id: "redeem-h", text: "Redeem a code" }), form)),
    h("div.grid.tiles", {}, Object.values(tiles)),
    charts.el,
    h("div.grid.two", {},
      h("section.panel", { "aria-labelledby": "models-h" }, h("h2", { id: "models-h", text: "Top models" }), models),
      h("section.panel", { "aria-labelledby": "ledger-h" }, h("h2", { id: "ledger-h", text: "Top-ups and codes" }), ledger))));

  async function refreshAccount() {
    const account = await get("/api/me");
    balance.textContent = account.balance_micro_usd === null ? "Unlimited" : usd(account.balance_micro_usd);
    balance.dataset.micro = String(account.balance_micro_usd ?? "");
    balanceSub.textContent = `${usd(account.spent_micro_usd)} spent in all · prices × ${account.ratio}`;
  }

  async function refreshLedger() {
    const { data } = await get("/api/me/ledger", { limit: 10 });
    clear(ledger, data.length ? table([
      { label: "When", value: (e) => when(e.created_at) },
      { label: "What", value: (e) => badge(e.kind, e.delta_micro_usd >= 0 ? "ok" : "warn") },
      { label: "Amount", num: true, value: (e) => usd(e.delta_micro_usd) },
      { label: "Balance after", num: true, value: (e) => usd(e.balance_after_micro_usd) },
    ], data, { caption: "Ledger" }) : empty("No top-up or code yet."));
  }

  async function refresh() {
    try {
      const [usage] = await Promise.all([get("/api/me/overview", { range }), refreshAccount(), refreshLedger()]);
      problem.replaceChildren();
      fillTiles(tiles, usage.totals);
      charts.update(usage);
      clear(models, topList(usage.top_models, { link: (m) => `#/log?model=${encodeURIComponent(m.id)}` }));
    } catch (error) {
      clear(problem, errorBox(error));
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    done.hidden = true;
    busy(redeem, slot, async () => {
      const result = await api("POST", "/api/redeem", { body: { code: code.value.trim() } });
      code.value = "";
      done.textContent = `Added ${usd(result.redeemed_micro_usd)}: your balance is now ${usd(result.balance_micro_usd)}.`;
      done.hidden = false;
      await Promise.all([refreshAccount(), refreshLedger()]);
    });
  });
  await refresh();
  const stop = every(15, refresh);
  return () => {
    stop();
    charts.destroy();
  };
}
