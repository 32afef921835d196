// The request log: filters kept in the address, cursor paging, a drawer per request, and a
// live mode that brings new requests in without reloading. Admins see everyone's
// (/admin/usage), a user their own (/api/me/usage, bound to them by the server).

import { get, url } from "../api.js";
import { clear, localInput, dialog, empty, errorBox, every, field, formValues, h, kv, loading, ms, number, pageHead, pager, statusBadge, table, tableRow, usd, when } from "../ui.js";

const FILTERS = ["from", "to", "user_id", "key_id", "model", "channel_id", "status", "errors", "request_id"];

function toIso(local) {
  return local ? new Date(local).toISOString() : "";
}


function openRecord(record, channels) {
  const { body } = dialog(`Request ${record.request_id}`, { drawer: true });
  const channel = record.channel_id ? channels.get(record.channel_id) || `#${record.channel_id}` : "none (refused before a channel)";
  body.append(
    h("section.stack", {},
      h("h3", { text: "Outcome" }),
      kv([
        ["Status", statusBadge(record.status)],
        ["Error", record.error ? h("span.error", { text: record.error }) : "none"],
        ["Model", record.model],
        ["Endpoint", `${record.endpoint}${record.stream ? " (streamed)" : ""}`],
        ["Channel", channel],
        ["Time", new Date(record.created_at).toLocaleString()],
      ]),
      h("h3", { text: "Timings" }),
      kv([
        ["Latency", ms(record.latency_ms)],
        ["First byte", record.first_byte_ms === null ? "—" : ms(record.first_byte_ms)],
      ]),
      h("h3", { text: "Tokens" }),
      kv([
        ["Prompt", number(record.prompt_tokens)],
        ["… of it cache read", number(record.cache_read_tokens)],
        ["… cache write (5 min)", number(record.cache_write_tokens)],
        ["… cache write (1 h)", number(record.cache_write_1h_tokens)],
        ["Completion", number(record.completion_tokens)],
        ["… of it reasoning", number(record.reasoning_tokens)],
        ["Units", number(record.units)],
      ]),
      h("h3", { text: "Money" }),
      kv([
        ["Cost", usd(record.cost)],
        ["Group ratio", `${record.ratio}×`],
      ]),
      h("h3", { text: "Who" }),
      kv([
        ["User", record.user_id ?? "admin key"],
        ["Key", record.key_id],
        ["Request id", h("code", { text: record.request_id })],
        ["Record", record.id],
      ])));
}

export async function render(main, { admin, params, go }) {
  const endpoint = admin ? "/admin/usage" : "/api/me/usage";
  const filters = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) || ""]));
  const channels = new Map();
  if (admin) {
    get("/admin/channels").then(({ data }) => data.forEach((c) => channels.set(c.id, c.name))).catch(() => {});
  }

  const live = h("input", { type: "checkbox", name: "live", checked: true });
  const exportLink = h("a.button", { href: "#", text: "Export CSV", download: "usage.csv", hidden: !admin });
  main.append(pageHead("Request log", admin ? "Every request through the gateway, newest first." : "Your requests, newest first.",
    h("label.check", {}, live, "Live"), exportLink));

  const form = h("form.filters", { "aria-label": "Filters" },
    field("From", h("input", { type: "datetime-local", name: "from", value: localInput(filters.from) })),
    field("To", h("input", { type: "datetime-local", name: "to", value: localInput(filters.to) })),
    admin ? field("User id", h("input", { name: "user_id", inputMode: "numeric", value: filters.user_id })) : null,
    field("Key id", h("input", { name: "key_id", inputMode: "numeric", value: filters.key_id })),
    field("Model", h("input", { name: "model", value: filters.model })),
    admin ? field("Channel id", h("input", { name: "channel_id", inputMode: "numeric", value: filters.channel_id })) : null,
    field("Status", h("input", { name: "status", inputMode: "numeric", value: filters.status, placeholder: "e.g. 429" })),
    field("Outcome", h("select", { name: "errors" },
      h("option", { value: "", text: "all", selected: !filters.errors }),
      h("option", { value: "true", text: "errors only", selected: filters.errors === "true" }),
      h("option", { value: "false", text: "successes only", selected: filters.errors === "false" }))),
    field("Request id", h("input", { name: "request_id", value: filters.request_id })),
    h("div.actions", {}, h("button.primary", { type: "submit", text: "Apply" }), h("button", { type: "reset", text: "Clear" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(form);
    values.from = toIso(values.from);
    values.to = toIso(values.to);
    go("log", Object.fromEntries(Object.entries(values).filter(([, v]) => v)));
  });
  form.addEventListener("reset", (event) => {
    event.preventDefault();
    go("log");
  });

  const problem = h("div");
  const holder = h("div", {}, loading());
  const more = pager(() => load(cursor));
  main.append(form, problem, holder, more);

  const columns = [
    { label: "Time", value: (r) => h("time", { datetime: r.created_at, text: when(r.created_at) }) },
    { label: "Model", value: (r) => r.model },
    { label: "Endpoint", value: (r) => r.endpoint + (r.stream ? " ⇢" : "") },
    admin ? { label: "User", value: (r) => r.user_id ?? "admin" } : null,
    { label: "Key", value: (r) => r.key_id },
    { label: "Tokens in / out", num: true, value: (r) => `${number(r.prompt_tokens)} / ${number(r.completion_tokens)}` },
    { label: "Cost", num: true, value: (r) => usd(r.cost) },
    { label: "Latency", num: true, value: (r) => ms(r.latency_ms) },
    { label: "Status", value: (r) => statusBadge(r.status) },
  ].filter(Boolean);

  const query = Object.fromEntries(Object.entries(filters).filter(([, v]) => v));
  exportLink.href = url("/admin/usage/export.csv", query);
  let cursor = null;
  let shown = 0;
  let newest = 0;
  let body = null;

  async function load(from) {
    try {
      const page = await get(endpoint, { ...query, limit: 50, cursor: from });
      problem.replaceChildren();
      if (!from) {
        shown = 0;
        if (!page.data.length) {
          clear(holder, empty("No request matches yet. Traffic shows up here within a second."));
        } else {
          const built = table(columns, page.data, { onOpen: (r) => openRecord(r, channels), caption: "Requests" });
          clear(holder, built);
          body = built.querySelector("tbody");
        }
        newest = page.data.length ? page.data[0].id : newest;
      } else {
        for (const record of page.data) body.append(tableRow(columns, record, { onOpen: (r) => openRecord(r, channels) }));
      }
      shown += page.data.length;
      cursor = page.next_cursor;
      more.update(shown, Boolean(cursor));
    } catch (error) {
      clear(problem, errorBox(error));
      if (!body) holder.replaceChildren();
    }
  }

  async function poll() {
    if (!live.checked || query.to) return;
    const page = await get(endpoint, { ...query, limit: 50 });
    const fresh = page.data.filter((r) => r.id > newest);
    if (!fresh.length) return;
    if (!body) {
      await load(null);
      return;
    }
    for (const record of fresh.reverse()) {
      const row = tableRow(columns, record, { onOpen: (r) => openRecord(r, channels), rowClass: () => "fresh" });
      body.prepend(row);
      shown += 1;
    }
    newest = page.data[0].id;
    more.update(shown, Boolean(cursor));
  }

  await load(null);
  return every(3, poll);
}
