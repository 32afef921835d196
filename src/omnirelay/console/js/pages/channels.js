// Channels: add and edit with the fields each vendor needs (from /admin/vendors), test with
// the latency and answer shown, health as this node sees it, enable/disable, priority, weight.

import { api, get } from "../api.js";
import { badge, busy, clear, confirmDialog, dialog, empty, errorBox, errorSlot, field, formValues, h, loading, ms, pageHead, select, table, toast, when } from "../ui.js";

function healthBadge(channel, health) {
  if (!channel.enabled) return badge("disabled");
  if (health?.cooling_down_seconds > 0) return badge(`cooling ${Math.ceil(health.cooling_down_seconds)} s`, "bad");
  if (health?.failures_in_a_row) return badge(`${health.failures_in_a_row} failing`, "warn");
  return badge("healthy", "ok");
}

function lastTest(test) {
  if (!test) return h("span.hint", { text: "never tested" });
  const tone = test.status === "ok" ? "ok" : "bad";
  return h("span", {}, badge(test.status === "ok" ? `ok · ${ms(test.latency_ms)}` : "failed", tone), " ",
    h("span.hint", { text: `${when(test.tested_at)}${test.message ? ` — ${test.message.slice(0, 80)}` : ""}` }));
}

function mapText(map) {
  return Object.entries(map || {}).map(([ours, theirs]) => `${ours}=${theirs}`).join("\n");
}

function parseMap(text) {
  const map = {};
  for (const line of String(text || "").split("\n")) {
    const [ours, theirs] = line.split("=").map((s) => s && s.trim());
    if (ours && theirs) map[ours] = theirs;
  }
  return map;
}

/** The add/edit form; its vendor-specific part is redrawn when the vendor changes. */
function channelDialog(channel, vendors, groups, reload) {
  const editing = Boolean(channel);
  const { body, close } = dialog(editing ? `Edit ${channel.name}` : "Add a channel");
  const slot = errorSlot();
  const save = h("button.primary", { type: "submit", text: editing ? "Save channel" : "Add channel" });
  const vendorSelect = select("vendor", vendors.map((v) => [v.name, v.label]), channel?.vendor || "openai");
  const specific = h("div.stack", { "aria-live": "polite" });
  const form = h("form.form", { "aria-label": editing ? "Edit the channel" : "Add a channel" },
    h("div.form-row", {},
      field("Name", h("input", { name: "name", required: true, value: channel?.name || "", autocomplete: "off" })),
      field("Vendor", vendorSelect)),
    specific,
    h("div.form-row", {},
      field("Priority", h("input", { name: "priority", type: "number", value: channel?.priority ?? 0 }), "Higher is tried first"),
      field("Weight", h("input", { name: "weight", type: "number", min: "1", max: "1000", value: channel?.weight ?? 1 }), "Share among equal priorities"),
      field("Connect timeout (s)", h("input", { name: "connect_timeout", type: "number", min: "0.1", step: "0.1", value: channel?.connect_timeout ?? "", placeholder: "gateway's" })),
      field("Read timeout (s)", h("input", { name: "read_timeout", type: "number", min: "0.1", step: "0.1", value: channel?.read_timeout ?? "", placeholder: "gateway's" }))),
    groups.length > 1 ? h("fieldset", {}, h("legend", { text: "Serves the groups (none ticked: all)" }),
      h("div.checklist", {}, groups.map((g) => h("label.check", {}, h("input", { type: "checkbox", name: "groups", value: g.name, checked: channel?.groups?.includes(g.name) }), g.name)))) : null,
    h("label.check", {}, h("input", { type: "checkbox", name: "enabled", value: "true", checked: channel ? channel.enabled : true }), "Enabled"),
    slot, h("div.form-actions", {}, save));

  function drawVendor() {
    const vendor = vendors.find((v) => v.name === vendorSelect.value);
    const sameVendor = editing && channel.vendor === vendor.name;
    const secretHint = editing ? "Leave empty to keep the stored secret (it is never shown)." : "Stored encrypted, never shown again.";
    clear(specific,
      vendor.note ? h("p.hint", { text: vendor.note }) : null,
      field("Base URL", h("input", { name: "base_url", type: "url", required: true, value: sameVendor ? channel.base_url : vendor.base_url, placeholder: vendor.base_url || "https://…" })),
      h("div.form-row", {}, vendor.secret.map((part) => field(part.label,
        h("input", { name: `secret_${part.name}`, type: "password", autocomplete: "new-password", required: !editing, placeholder: part.placeholder || "" })))),
      h("p.hint", { text: secretHint }),
      h("fieldset", {}, h("legend", { text: `Models (none ticked: all ${vendor.models.length} of the vendor's)` }),
        h("div.checklist", {}, vendor.models.map((m) => h("label.check", {}, h("input", { type: "checkbox", name: "models", value: m, checked: sameVendor && channel.models.includes(m) }), m)))),
      field("Model names at the vendor", h("textarea", { name: "model_map", rows: 2, placeholder: "ours=theirs, one a line (e.g. gpt-4o=gpt-4o-2024-08-06)", text: sameVendor ? mapText(channel.model_map) : "" })));
  }
  vendorSelect.addEventListener("change", drawVendor);
  drawVendor();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, slot, async () => {
      const values = formValues(form);
      const data = new FormData(form);
      const vendor = vendors.find((v) => v.name === values.vendor);
      const parts = vendor.secret.map((p) => (values[`secret_${p.name}`] || "").trim());
      const spec = {
        name: values.name,
        vendor: values.vendor,
        base_url: values.base_url,
        models: data.getAll("models"),
        model_map: parseMap(values.model_map),
        priority: Number(values.priority || 0),
        weight: Number(values.weight || 1),
        groups: data.getAll("groups").length ? data.getAll("groups") : null,
        connect_timeout: values.connect_timeout ? Number(values.connect_timeout) : null,
        read_timeout: values.read_timeout ? Number(values.read_timeout) : null,
        enabled: values.enabled === "true",
      };
      if (parts.some(Boolean)) {
        if (parts.some((p) => !p)) throw new Error(`fill in every part of the secret (${vendor.secret.map((p) => p.label).join(", ")})`);
        spec.api_key = parts.join(vendor.joiner);
      }
      if (editing) await api("PATCH", `/admin/channels/${channel.id}`, { body: spec });
      else await api("POST", "/admin/channels", { body: spec });
      close();
      toast(editing ? `Saved ${spec.name}` : `Added ${spec.name}`);
      reload();
    });
  });
  body.append(form);
}

export async function render(main, { params }) {
  const focus = Number(params.get("focus") || 0);
  const add = h("button.primary", { type: "button", text: "Add channel" });
  main.append(pageHead("Channels", "Upstream accounts the gateway routes to, by priority then weight; failing ones cool down.", add));
  const problem = h("div");
  const holder = h("div", {}, loading());
  main.append(problem, holder);
  const [vendors, groups] = await Promise.all([
    get("/admin/vendors").then((r) => r.data),
    get("/admin/groups").then((r) => r.data).catch(() => []),
  ]);
  add.addEventListener("click", () => channelDialog(null, vendors, groups, reload));
  const results = new Map(); // channel id → its last test, shown under its row

  async function reload() {
    try {
      const [{ data }, health] = await Promise.all([get("/admin/channels"), get("/admin/channels/health")]);
      const byId = new Map(health.data.map((item) => [item.id, item]));
      problem.replaceChildren();
      if (!data.length) {
        clear(holder, empty("No channel yet: add one to start routing."));
        return;
      }
      clear(holder, table([
        { label: "Name", value: (c) => h("span", {}, h("strong", { text: c.name }), h("div.hint.truncate", { text: c.base_url, title: c.base_url })) },
        { label: "Vendor", value: (c) => c.vendor },
        { label: "Models", value: (c) => (c.models.length ? `${c.models.length} chosen` : "all of the vendor's") },
        { label: "Priority", num: true, value: (c) => String(c.priority) },
        { label: "Weight", num: true, value: (c) => String(c.weight) },
        { label: "Health", value: (c) => {
          const seen = byId.get(c.id);
          return h("span", {}, healthBadge(c, seen), seen ? h("div.hint", { text: `${seen.successes} ok · ${seen.errors} errors since start` }) : null,
            seen?.recent_errors?.length ? h("div.hint.truncate", { text: seen.recent_errors.at(-1).reason, title: seen.recent_errors.at(-1).reason }) : null);
        } },
        { label: "Last test", value: (c) => h("div", { dataset: { testOf: c.id } }, results.get(c.id) || lastTest(c.last_test)) },
        { label: "", value: (c) => actions(c) },
      ], data, { rowClass: (c) => `${c.enabled ? "" : "off"}${c.id === focus ? " fresh" : ""}`, caption: "Channels" }));
    } catch (error) {
      clear(problem, errorBox(error));
    }
  }

  function actions(channel) {
    const test = h("button.small", { type: "button", text: "Test", "aria-label": `Test ${channel.name}` });
    test.addEventListener("click", () => {
      const cell = holder.querySelector(`[data-test-of="${channel.id}"]`);
      clear(cell, h("span.hint", { role: "status", text: "Testing…" }));
      busy(test, null, async () => {
        try {
          const result = await api("POST", `/admin/channels/${channel.id}/test`, { body: {} });
          const shown = h("div", { role: "status", dataset: { result: result.ok ? "ok" : "error" } },
            badge(result.ok ? `ok · ${ms(result.latency_ms)}` : `failed · ${ms(result.latency_ms)}`, result.ok ? "ok" : "bad"),
            h("div.hint", { text: `${result.model || ""}${result.http_status ? ` · HTTP ${result.http_status}` : ""}` }),
            h("div", { text: result.ok ? `Answer: ${result.answer ?? ""}` : result.error }));
          results.set(channel.id, shown);
          clear(cell, shown);
        } catch (error) {
          clear(cell, errorBox(error));
        }
      });
    });
    const edit = h("button.small", { type: "button", text: "Edit", "aria-label": `Edit ${channel.name}` });
    edit.addEventListener("click", () => channelDialog(channel, vendors, groups, reload));
    const toggle = h("button.small", { type: "button", text: channel.enabled ? "Disable" : "Enable", "aria-label": `${channel.enabled ? "Disable" : "Enable"} ${channel.name}` });
    toggle.addEventListener("click", () => busy(toggle, null, async () => {
      await api("PATCH", `/admin/channels/${channel.id}`, { body: { enabled: !channel.enabled } });
      toast(`${channel.enabled ? "Disabled" : "Enabled"} ${channel.name}`);
      reload();
    }));
    const remove = h("button.small.danger", { type: "button", text: "Delete", "aria-label": `Delete ${channel.name}` });
    remove.addEventListener("click", async () => {
      if (!(await confirmDialog("Delete this channel?", `“${channel.name}” stops serving at once; its usage history stays.`, "Delete"))) return;
      busy(remove, null, async () => {
        await api("DELETE", `/admin/channels/${channel.id}`);
        reload();
      });
    });
    return h("div.actions", {}, test, edit, toggle, remove);
  }

  await reload();
  const timer = setInterval(() => { if (!document.hidden && !document.querySelector("dialog")) reload(); }, 10000);
  return () => clearInterval(timer);
}
