// Redemption codes: create a batch (the codes shown once, downloadable as CSV), see which are
// used and by whom, withdraw one that was not.

import { api, get } from "../api.js";
import { badge, busy, clear, copyButton, dialog, empty, errorBox, errorSlot, field, formValues, h, loading, pageHead, pager, select, table, tableRow, toast, usd, when } from "../ui.js";

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvOf(rows) {
  return rows.map((row) => row.map(csvCell).join(",")).join("\n") + "\n";
}

function download(name, text) {
  const link = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function createdDialog(created, expires) {
  const { body } = dialog(`Batch “${created.batch}”: ${created.codes.length} code(s)`);
  const rows = [["code", "batch", "value_usd", "expires_at"], ...created.codes.map((c) => [c, created.batch, created.value_micro_usd / 1e6, expires || ""])];
  const save = h("button.primary", { type: "button", text: "Download CSV" });
  save.addEventListener("click", () => download(`codes-${created.batch}.csv`, csvOf(rows)));
  body.append(h("div.stack", {},
    h("p.notice", { text: "These codes are shown only once: download or copy them now. Only their hashes are kept." }),
    h("p", { text: `Each is worth ${usd(created.value_micro_usd)}.` }),
    h("div.code-block", {}, h("pre.code", { text: created.codes.join("\n"), tabIndex: 0, "aria-label": "The codes" }), copyButton(() => created.codes.join("\n"))),
    h("div.form-actions", {}, save)));
  save.focus();
}

function state(code) {
  if (code.redeemed_at) return badge(`used by user ${code.redeemed_by}`, "info");
  if (!code.enabled) return badge("withdrawn", "bad");
  if (code.expires_at && new Date(code.expires_at) < new Date()) return badge("expired", "warn");
  return badge("available", "ok");
}

export async function render(main, { params, go }) {
  const batch = params.get("batch") || "";
  const redeemed = params.get("redeemed") || "";
  main.append(pageHead("Redemption codes", "Codes a user redeems into their balance; each works once."));
  const slot = errorSlot();
  const create = h("button.primary", { type: "submit", text: "Create codes" });
  const form = h("form.form.panel", { "aria-label": "Create a batch of codes" },
    h("h2", { text: "New batch" }),
    h("div.form-row", {},
      field("Batch name", h("input", { name: "batch", required: true, placeholder: "e.g. spring-promo" })),
      field("Value (USD)", h("input", { name: "value_usd", type: "number", min: "0.01", step: "0.01", required: true, value: "5" })),
      field("How many", h("input", { name: "count", type: "number", min: "1", max: "1000", required: true, value: "10" })),
      field("Expires", h("input", { name: "expires_at", type: "datetime-local" }))),
    slot, h("div.form-actions", {}, create));
  const filters = h("form.filters", { "aria-label": "Filters" },
    field("Batch", h("input", { name: "batch", value: batch })),
    field("Show", select("redeemed", [["", "all"], ["false", "not used"], ["true", "used"]], redeemed)),
    h("div.actions", {}, h("button", { type: "submit", text: "Apply" })));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    go("codes", Object.fromEntries([...new FormData(filters)].filter(([, v]) => v)));
  });
  filters.querySelector("select").addEventListener("change", () => filters.requestSubmit());
  const problem = h("div");
  const holder = h("div", {}, loading());
  let cursor = null;
  let shown = 0;
  let body = null;
  const more = pager(() => load(cursor));
  main.append(h("div.stack", {}, form, h("section", { "aria-labelledby": "codes-h" }, h("h2", { id: "codes-h", text: "Codes" }), filters, problem, holder, more)));

  const columns = [
    { label: "Id", value: (c) => c.id },
    { label: "Batch", value: (c) => c.batch },
    { label: "Code", value: (c) => h("code", { text: `${c.prefix}…` }) },
    { label: "Value", num: true, value: (c) => usd(c.value_micro_usd) },
    { label: "State", value: state },
    { label: "Used", value: (c) => (c.redeemed_at ? when(c.redeemed_at) : "—") },
    { label: "Expires", value: (c) => (c.expires_at ? when(c.expires_at) : "never") },
    { label: "", value: (c) => {
      if (c.redeemed_at || !c.enabled) return "";
      const withdraw = h("button.small.danger", { type: "button", text: "Withdraw", "aria-label": `Withdraw code ${c.id}` });
      withdraw.addEventListener("click", async () => {
        try {
          await api("DELETE", `/admin/codes/${c.id}`);
          toast(`Withdrew code ${c.id}`);
          load(null);
        } catch (error) {
          clear(problem, errorBox(error));
        }
      });
      return withdraw;
    } },
  ];

  async function load(from) {
    try {
      const page = await get("/admin/codes", { batch, redeemed, cursor: from, limit: 100 });
      problem.replaceChildren();
      if (!from) {
        shown = 0;
        body = null;
        if (!page.data.length) clear(holder, empty("No code yet."));
        else {
          const built = table(columns, page.data, { caption: "Codes" });
          body = built.querySelector("tbody");
          clear(holder, built);
        }
      } else page.data.forEach((c) => body.append(tableRow(columns, c)));
      shown += page.data.length;
      cursor = page.next_cursor;
      more.update(shown, Boolean(cursor));
    } catch (error) {
      clear(problem, errorBox(error));
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(create, slot, async () => {
      const values = formValues(form);
      const expires = values.expires_at ? new Date(values.expires_at).toISOString() : null;
      const created = await api("POST", "/admin/codes", {
        body: { batch: values.batch, value_usd: Number(values.value_usd), count: Number(values.count), expires_at: expires },
      });
      form.reset();
      createdDialog(created, expires);
      load(null);
    });
  });
  await load(null);
}
