// A user's own keys: all spend the same balance; make another (shown once), disable one.

import { api, get } from "../api.js";
import { badge, busy, clear, empty, errorBox, errorSlot, field, formValues, h, loading, pageHead, splitList, table, toast, usd, when } from "../ui.js";
import { createdKeyDialog, limitsSummary } from "./keys.js";

export async function render(main, { who }) {
  main.append(pageHead("Your keys", "Every key spends your one balance; give each tool its own, and disable one you lost."));
  const slot = errorSlot();
  const create = h("button.primary", { type: "submit", text: "Create key" });
  const form = h("form.form.panel", { "aria-label": "Create a key" },
    h("h2", { text: "New key" }),
    h("div.form-row", {},
      field("Name", h("input", { name: "name", required: true, autocomplete: "off", placeholder: "e.g. laptop" })),
      field("Spending cap (USD)", h("input", { name: "quota_usd", type: "number", min: "0", step: "0.01", placeholder: "none" })),
      field("Models", h("input", { name: "models", placeholder: "all you may use" })),
      field("Expires", h("input", { name: "expires_at", type: "datetime-local" }))),
    slot, h("div.form-actions", {}, create));
  const problem = h("div");
  const holder = h("div", {}, loading());
  main.append(h("div.stack", {}, form, problem, holder));

  async function reload() {
    try {
      const { data } = await get("/api/me/keys");
      problem.replaceChildren();
      clear(holder, data.length ? table([
        { label: "Name", value: (k) => h("span", {}, k.name, " ", h("code", { text: `${k.prefix}…` }), k.id === who.key_id ? badge("this session", "info") : null) },
        { label: "Cap left", num: true, value: (k) => usd(k.quota_remaining_micro_usd, "—") },
        { label: "Spent", num: true, value: (k) => usd(k.spent_micro_usd) },
        { label: "Limits", value: (k) => limitsSummary(k.limits) },
        { label: "Models", value: (k) => (k.models ? k.models.join(", ") : "all") },
        { label: "Expires", value: (k) => (k.expires_at ? when(k.expires_at) : "never") },
        { label: "State", value: (k) => badge(k.enabled ? "active" : "disabled", k.enabled ? "ok" : "bad") },
        { label: "", value: (k) => {
          const toggle = h("button.small", { type: "button", text: k.enabled ? "Disable" : "Enable", disabled: k.id === who.key_id, "aria-label": `${k.enabled ? "Disable" : "Enable"} ${k.name}` });
          toggle.addEventListener("click", () => busy(toggle, null, async () => {
            await api("PATCH", `/api/me/keys/${k.id}`, { body: { enabled: !k.enabled } });
            toast(`${k.enabled ? "Disabled" : "Enabled"} ${k.name}`);
            reload();
          }));
          return toggle;
        } },
      ], data, { rowClass: (k) => (k.enabled ? "" : "off"), caption: "Your keys" }) : empty("No key."));
    } catch (error) {
      clear(problem, errorBox(error));
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(create, slot, async () => {
      const values = formValues(form);
      const body = { name: values.name };
      if (values.quota_usd) body.quota_usd = Number(values.quota_usd);
      const models = splitList(values.models);
      if (models.length) body.models = models;
      if (values.expires_at) body.expires_at = new Date(values.expires_at).toISOString();
      const created = await api("POST", "/api/me/keys", { body });
      form.reset();
      createdKeyDialog(created);
      reload();
    });
  });
  await reload();
}
