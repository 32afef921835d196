// Models and prices: every model with its token, cache, unit and task prices, as a chosen
// group pays them (its ratio applied, as settlement rounds it: up to the micro-dollar).

import { api, get } from "../api.js";
import { badge, busy, clear, dialog, empty, errorBox, errorSlot, field, h, loading, pageHead, select, table, toast, usd } from "../ui.js";

const PRICES = [
  ["input", "Input", "/1M tok"],
  ["output", "Output", "/1M tok"],
  ["cache_read", "Cache read", "/1M tok"],
  ["cache_write", "Cache write 5 min", "/1M tok"],
  ["cache_write_1h", "Cache write 1 h", "/1M tok"],
  ["per_request", "Request", "each"],
  ["per_image", "Image", "each"],
  ["per_second", "Audio second", "/s"],
  ["per_mchar", "Characters", "/1M chars"],
];

const applyRatio = (micro, ratio) => (ratio === 1 || micro <= 0 ? micro : Math.ceil((micro * Math.round(ratio * 1e6)) / 1e6));

function priceList(model, ratio) {
  const shown = PRICES.filter(([name]) => model.prices_micro_usd[name]);
  const lines = shown.map(([name, label, unit]) => {
    const base = model.prices_micro_usd[name];
    const paid = applyRatio(base, ratio);
    return h("div", {}, h("span.hint", { text: `${label} ` }), usd(paid), h("span.hint", { text: ` ${unit}` }),
      ratio !== 1 ? h("span.hint", { text: ` (list ${usd(base)})` }) : null);
  });
  for (const price of model.task_prices) {
    const what = [price.product, price.mode, price.duration && `${price.duration}s`].filter(Boolean).join(" ");
    const paid = applyRatio(price.price_micro_usd, ratio);
    lines.push(h("div", {}, h("span.hint", { text: `Task ${what} ` }), usd(paid),
      ratio !== 1 ? h("span.hint", { text: ` (list ${usd(price.price_micro_usd)})` }) : null));
  }
  return lines.length ? h("div", {}, lines) : h("span.hint", { text: "free" });
}

function priceDialog(model, reload) {
  const { body, close } = dialog(`Prices of ${model.name}`);
  const slot = errorSlot();
  const save = h("button.primary", { type: "submit", text: "Save prices" });
  const form = h("form.form", {},
    h("p.hint", { text: "US dollars, before any group ratio." }),
    h("div.form-row", {}, PRICES.map(([name, label, unit]) => field(`${label} (${unit})`,
      h("input", { name, type: "number", min: "0", step: "0.000001", value: model.prices_micro_usd[name] / 1e6 })))),
    model.task_prices.length ? h("fieldset", {}, h("legend", { text: "Per task" }),
      h("div.form-row", {}, model.task_prices.map((p) => field([p.product, p.mode, p.duration && `${p.duration}s`].filter(Boolean).join(" "),
        h("input", { name: `task_${p.id}`, type: "number", min: "0", step: "0.000001", value: p.price_micro_usd / 1e6, dataset: { original: String(p.price_micro_usd) } }))))) : null,
    slot, h("div.form-actions", {}, save));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, slot, async () => {
      const data = new FormData(form);
      const prices = Object.fromEntries(PRICES.map(([name]) => [name, Number(data.get(name) || 0)]));
      await api("PUT", `/admin/models/${encodeURIComponent(model.name)}/prices`, { body: { prices } });
      for (const input of form.querySelectorAll("input[name^=task_]")) {
        const micro = Math.round(Number(input.value) * 1e6);
        if (micro !== Number(input.dataset.original)) {
          await api("PATCH", `/admin/task-prices/${input.name.slice(5)}`, { body: { usd: Number(input.value) } });
        }
      }
      close();
      toast(`Saved the prices of ${model.name}`);
      reload();
    });
  });
  body.append(form);
}

export async function render(main) {
  main.append(pageHead("Models & prices", "What each model costs; pick a group to see what its users pay."));
  const groups = await get("/admin/groups").then((r) => r.data).catch(() => [{ name: "default", ratio: 1 }]);
  const groupSelect = select("group", groups.map((g) => [g.name, `${g.name} (${g.ratio}×)`]), "default");
  const search = h("input", { type: "search", name: "q", placeholder: "name or family" });
  const kind = select("kind", ["", "chat", "completion", "embedding", "image", "speech", "transcription", "task"].map((k) => [k, k || "every kind"]), "");
  const filters = h("div.filters", {}, field("Prices for group", groupSelect), field("Search", search), field("Kind", kind));
  const problem = h("div");
  const holder = h("div", {}, loading());
  main.append(filters, problem, holder);
  let models = [];

  function draw() {
    const group = groups.find((g) => g.name === groupSelect.value) || { ratio: 1 };
    const words = search.value.trim().toLowerCase();
    const shown = models.filter((m) => (!kind.value || m.kind === kind.value)
      && (!words || m.name.toLowerCase().includes(words) || m.family.toLowerCase().includes(words)));
    if (!shown.length) {
      clear(holder, empty("No model matches."));
      return;
    }
    clear(holder, table([
      { label: "Model", value: (m) => h("strong", { text: m.name }) },
      { label: "Kind", value: (m) => m.kind },
      { label: "Family", value: (m) => m.family },
      { label: `Prices (${groupSelect.value}, ${group.ratio}×)`, value: (m) => priceList(m, group.ratio) },
      { label: "Served", value: (m) => (m.routable ? badge("routable", "ok") : badge("no channel")) },
      { label: "", value: (m) => {
        const edit = h("button.small", { type: "button", text: "Edit prices", "aria-label": `Edit the prices of ${m.name}` });
        edit.addEventListener("click", () => priceDialog(m, reload));
        return edit;
      } },
    ], shown, { caption: "Models" }));
  }

  async function reload() {
    try {
      models = (await get("/admin/models")).data;
      problem.replaceChildren();
      draw();
    } catch (error) {
      clear(problem, errorBox(error));
      holder.replaceChildren();
    }
  }
  groupSelect.addEventListener("change", draw);
  kind.addEventListener("change", draw);
  search.addEventListener("input", draw);
  await reload();
}
