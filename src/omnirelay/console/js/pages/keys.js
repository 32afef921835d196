// Keys: create (shown once, with a copy button), limits, revoke, top up.

import { api, get } from "../api.js";
import { badge, busy, localInput, clear, confirmDialog, dialog, empty, errorBox, errorSlot, field, formValues, h, loading, pageHead, secretReveal, select, splitList, table, toast, usd, when } from "../ui.js";

const LIMITS = [
  ["rpm", "Requests / minute"],
  ["tpm", "Tokens / minute"],
  ["concurrency", "Concurrent requests"],
  ["daily_usd", "Daily spend (USD)"],
  ["monthly_usd", "Monthly spend (USD)"],
];

export function limitsSummary(limits) {
  if (!limits) return "—";
  const parts = [];
  if (limits.rpm) parts.push(`${limits.rpm} rpm`);
  if (limits.tpm) parts.push(`${limits.tpm} tpm`);
  if (limits.concurrency) parts.push(`${limits.concurrency} at once`);
  if (limits.daily_usd) parts.push(`$${limits.daily_usd}/day`);
  if (limits.monthly_usd) parts.push(`$${limits.monthly_usd}/month`);
  return parts.join(" · ") || "—";
}

export function limitFields(limits) {
  return h("fieldset", {}, h("legend", { text: "Rate and spend limits (empty: none)" }),
    h("div.form-row", {}, LIMITS.map(([name, label]) => field(label,
      h("input", { name: `limit_${name}`, type: "number", min: "0", step: name.endsWith("usd") ? "0.01" : "1", value: limits?.[name] ?? "" })))));
}

export function limitsFrom(values) {
  const limits = {};
  for (const [name] of LIMITS) {
    const raw = values[`limit_${name}`];
    if (raw !== undefined && raw !== "") limits[name] = Number(raw);
  }
  return Object.keys(limits).length ? limits : null;
}

function editDialog(key, reload) {
  const { body, close } = dialog(`Limits of ${key.name}`);
  const slot = errorSlot();
  const save = h("button.primary", { type: "submit", text: "Save limits" });
  const form = h("form.form", {},
    limitFields(key.limits),
    h("div.form-row", {},
      field("Key quota (USD)", h("input", { name: "quota_usd", type: "number", min: "0", step: "0.01", value: key.quota_remaining_micro_usd === null ? "" : key.quota_remaining_micro_usd / 1e6 }), "A cap of the key's own; empty: none"),
      field("Expires", h("input", { name: "expires_at", type: "datetime-local", value: localInput(key.expires_at) }))),
    field("Models", h("input", { name: "models", value: key.models ? key.models.join(", ") : "", placeholder: "empty: every model of its group" })),
    field("Allowed IPs", h("input", { name: "allowed_ips", value: key.allowed_ips ? key.allowed_ips.join(", ") : "", placeholder: "e.g. 10.0.0.0/8, 203.0.113.7" })),
    slot, h("div.form-actions", {}, save));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, slot, async () => {
      const values = formValues(form);
      const models = splitList(values.models);
      const ips = splitList(values.allowed_ips);
      await api("PATCH", `/admin/keys/${key.id}`, {
        body: {
          limits: limitsFrom(values),
          quota_usd: values.quota_usd === "" ? null : Number(values.quota_usd),
          expires_at: values.expires_at ? new Date(values.expires_at).toISOString() : null,
          models: models.length ? models : null,
          allowed_ips: ips.length ? ips : null,
        },
      });
      close();
      toast(`Saved the limits of ${key.name}`);
      reload();
    });
  });
  body.append(form);
}

function topUpDialog(key, reload) {
  const { body, close } = dialog(`Top up ${key.name}`);
  const slot = errorSlot();
  const save = h("button.primary", { type: "submit", text: "Add" });
  const hasQuota = key.quota_remaining_micro_usd !== null;
  const hasBalance = key.user_id !== null && key.balance_micro_usd !== null;
  const target = select("target", [
    ...(hasBalance ? [["user", `the user's balance (now ${usd(key.balance_micro_usd)})`]] : []),
    ...(hasQuota ? [["key", `the key's own quota (now ${usd(key.quota_remaining_micro_usd)})`]] : []),
  ]);
  const form = h("form.form", {},
    field("Amount (USD)", h("input", { name: "amount", type: "number", step: "0.01", required: true, value: "5" }), "Negative to correct a mistake"),
    field("Add to", target),
    field("Note", h("input", { name: "note", placeholder: "e.g. invoice 2024-17" })),
    slot, h("div.form-actions", {}, save));
  if (!hasQuota && !hasBalance) {
    form.replaceChildren(h("p", { text: "This key spends an unlimited balance and has no quota of its own: there is nothing to top up. Give it a quota under Limits, or make its user's balance limited." }));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, slot, async () => {
      const values = formValues(form);
      if (values.target === "key") {
        await api("PATCH", `/admin/keys/${key.id}`, { body: { add_quota_usd: Number(values.amount) } });
      } else {
        await api("POST", `/admin/users/${key.user_id}/topups`, { body: { amount_usd: Number(values.amount), note: values.note || null } });
      }
      close();
      toast(`Added $${values.amount}`);
      reload();
    });
  });
  body.append(form);
}

export function createdKeyDialog(created) {
  const { body } = dialog("Your new key");
  body.append(h("div.stack", {}, h("p", { text: `Key “${created.name}” (id ${created.id}${created.user_id ? `, user ${created.user_id}` : ""}).` }), secretReveal(created.key)));
}

export async function render(main, { params, go }) {
  const userFilter = params.get("user_id") || "";
  main.append(pageHead("Keys", "Keys spend their user's balance; each may carry limits of its own."));
  const users = await get("/admin/users", { limit: 1000 }).then((r) => r.data).catch(() => []);
  const slot = errorSlot();
  const create = h("button.primary", { type: "submit", text: "Create key" });
  const form = h("form.form.panel", { "aria-label": "Create a key" },
    h("h2", { text: "New key" }),
    h("div.form-row", {},
      field("Name", h("input", { name: "name", required: true, autocomplete: "off" })),
      field("User", select("user_id", [["", "a new user of its own"], ...users.map((u) => [u.id, `${u.name} (#${u.id})`])], userFilter)),
      field("Quota (USD)", h("input", { name: "quota_usd", type: "number", min: "0", step: "0.01", placeholder: "none" })),
      field("Models", h("input", { name: "models", placeholder: "all of its group's" })),
      field("Expires", h("input", { name: "expires_at", type: "datetime-local" }))),
    h("label.check", {}, h("input", { type: "checkbox", name: "is_admin", value: "true" }), "Admin key (manages the gateway, belongs to no user)"),
    slot, h("div.form-actions", {}, create));
  const problem = h("div");
  const filter = h("div.filters", {}, field("Show keys of", select("filter", [["", "every user"], ...users.map((u) => [u.id, u.name])], userFilter)));
  filter.querySelector("select").addEventListener("change", (event) => go("keys", event.target.value ? { user_id: event.target.value } : undefined));
  const holder = h("div", {}, loading());
  main.append(h("div.stack", {}, form, h("section", {}, h("h2.visually-hidden", { text: "Keys" }), filter, problem, holder)));

  const userName = new Map(users.map((u) => [u.id, u.name]));
  async function reload() {
    try {
      const { data } = await get("/admin/keys", { user_id: userFilter });
      problem.replaceChildren();
      if (!data.length) {
        clear(holder, empty("No key yet."));
        return;
      }
      clear(holder, table([
        { label: "Id", value: (k) => k.id },
        { label: "Name", value: (k) => h("span", {}, k.name, " ", h("code", { text: `${k.prefix}…` })) },
        { label: "User", value: (k) => (k.is_admin ? badge("admin", "info") : userName.get(k.user_id) ?? `#${k.user_id}`) },
        { label: "Balance", num: true, value: (k) => (k.is_admin ? "—" : usd(k.balance_micro_usd)) },
        { label: "Quota left", num: true, value: (k) => usd(k.quota_remaining_micro_usd, "—") },
        { label: "Spent", num: true, value: (k) => usd(k.spent_micro_usd) },
        { label: "Limits", value: (k) => limitsSummary(k.limits) },
        { label: "Models", value: (k) => (k.models ? k.models.join(", ") : "all") },
        { label: "Expires", value: (k) => (k.expires_at ? when(k.expires_at) : "never") },
        { label: "State", value: (k) => badge(k.enabled ? "active" : "revoked", k.enabled ? "ok" : "bad") },
        { label: "", value: (k) => actions(k) },
      ], data, { rowClass: (k) => (k.enabled ? "" : "off"), caption: "Keys" }));
    } catch (error) {
      clear(problem, errorBox(error));
      holder.replaceChildren();
    }
  }

  function actions(key) {
    const limits = h("button.small", { type: "button", text: "Limits", "aria-label": `Limits of ${key.name}` });
    limits.addEventListener("click", () => editDialog(key, reload));
    const topUp = h("button.small", { type: "button", text: "Top up", "aria-label": `Top up ${key.name}` });
    topUp.addEventListener("click", () => topUpDialog(key, reload));
    const toggle = h("button.small", { type: "button", class: key.enabled ? "small danger" : "small", text: key.enabled ? "Revoke" : "Restore", "aria-label": `${key.enabled ? "Revoke" : "Restore"} ${key.name}` });
    toggle.addEventListener("click", async () => {
      if (key.enabled && !(await confirmDialog("Revoke this key?", `Requests with “${key.name}” are refused from now on (on every node within a second).`, "Revoke"))) return;
      try {
        await api("PATCH", `/admin/keys/${key.id}`, { body: { enabled: !key.enabled } });
        toast(key.enabled ? `Revoked ${key.name}` : `Restored ${key.name}`);
        reload();
      } catch (error) {
        clear(problem, errorBox(error));
      }
    });
    return h("div.actions", {}, limits, key.is_admin ? null : topUp, toggle);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(create, slot, async () => {
      const values = formValues(form);
      const body = { name: values.name, is_admin: values.is_admin === "true" };
      if (values.user_id && !body.is_admin) body.user_id = Number(values.user_id);
      if (values.quota_usd) body.quota_usd = Number(values.quota_usd);
      const models = splitList(values.models);
      if (models.length) body.models = models;
      if (values.expires_at) body.expires_at = new Date(values.expires_at).toISOString();
      const created = await api("POST", "/admin/keys", { body });
      form.reset();
      createdKeyDialog(created);
      reload();
    });
  });
  await reload();
}
