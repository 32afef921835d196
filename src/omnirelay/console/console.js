// The omnirelay console: a thin client of the admin API (/admin/*). No build step.
"use strict";

const $ = (selector) => document.querySelector(selector);
const PRICE_NAMES = ["input", "output", "per_request", "per_image", "per_second", "per_mchar"];

function usd(micro) {
  if (micro === null || micro === undefined) return "unlimited";
  const sign = micro < 0 ? "-" : "";
  const abs = Math.abs(micro);
  return `${sign}$${Math.floor(abs / 1e6)}.${String(abs % 1e6).padStart(6, "0")}`;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  return td;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.className = "small";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${sessionStorage.getItem("omnirelay-admin")}`,
               "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (data.error && data.error.message) || `HTTP ${response.status}`;
    showError(message);
    if (response.status === 401 || response.status === 403) signOut();
    throw new Error(message);
  }
  $("#error").hidden = true;
  return data;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = false;
}

function fill(bodyId, rows) {
  const body = $(bodyId);
  body.replaceChildren(...rows);
}

async function loadKeys() {
  const { data } = await api("GET", "/admin/keys");
  fill("#keys-body", data.map((key) => {
    const tr = document.createElement("tr");
    tr.append(cell(key.id), cell(key.name), cell(key.prefix + "…"), cell(usd(key.quota_remaining_micro_usd)),
      cell(usd(key.spent_micro_usd)), cell(key.models ? key.models.join(", ") : "all"),
      cell((key.enabled ? "enabled" : "disabled") + (key.is_admin ? " · admin" : "")));
    const actions = document.createElement("td");
    actions.append(
      button(key.enabled ? "Disable" : "Enable", async () => {
        await api("PATCH", `/admin/keys/${key.id}`, { enabled: !key.enabled });
        loadKeys();
      }),
      button("Add $", async () => {
        const amount = prompt("Add how many US dollars of quota?", "5");
        if (!amount) return;
        await api("PATCH", `/admin/keys/${key.id}`, { add_quota_usd: Number(amount) });
        loadKeys();
      }),
    );
    tr.append(actions);
    if (!key.enabled) tr.className = "off";
    return tr;
  }));
}

async function loadChannels() {
  const { data } = await api("GET", "/admin/channels");
  fill("#channels-body", data.map((channel) => {
    const tr = document.createElement("tr");
    const state = (channel.enabled ? "enabled" : "disabled") + (channel.cooling_down ? " · cooling down" : "");
    tr.append(cell(channel.id), cell(channel.name), cell(channel.vendor), cell(channel.base_url),
      cell(channel.models.length ? channel.models.join(", ") : "all of the vendor's"),
      cell(channel.priority), cell(channel.weight), cell(state));
    const actions = document.createElement("td");
    const action = channel.enabled ? "disable" : "enable";
    actions.append(button(action[0].toUpperCase() + action.slice(1), async () => {
      await api("POST", `/admin/channels/${encodeURIComponent(channel.name)}/${action}`);
      loadChannels();
    }));
    tr.append(actions);
    if (!channel.enabled) tr.className = "off";
    return tr;
  }));
}

async function loadModels() {
  const { data } = await api("GET", "/admin/models");
  data.sort((a, b) => a.name.localeCompare(b.name));
  fill("#models-body", data.map((model) => {
    const tr = document.createElement("tr");
    const name = cell(model.name);
    if (model.task_prices && model.task_prices.length) {
      // A task model is priced per task, by product, mode and duration.
      const small = document.createElement("div");
      small.className = "task-prices";
      small.textContent = "per task: " + model.task_prices.map((p) =>
        [p.product, p.mode, p.duration && `${p.duration}s`].filter(Boolean).join(" ")
        + " " + usd(p.price_micro_usd)).join(", ");
      name.append(small);
    }
    tr.append(name, cell(model.kind), cell(model.family));
    const inputs = PRICE_NAMES.map((name) => {
      const input = document.createElement("input");
      input.type = "number";
      input.step = "0.000001";
      input.min = "0";
      input.value = String(model.prices_micro_usd[name] / 1e6);
      input.dataset.price = name;
      const td = document.createElement("td");
      td.append(input);
      tr.append(td);
      return input;
    });
    const actions = document.createElement("td");
    actions.append(button("Save", async () => {
      const prices = Object.fromEntries(inputs.map((i) => [i.dataset.price, Number(i.value)]));
      await api("PUT", `/admin/models/${encodeURIComponent(model.name)}/prices`, { prices });
      loadModels();
    }));
    tr.append(actions);
    return tr;
  }));
}

async function loadUsage() {
  const keyId = new FormData($("#usage-form")).get("key_id");
  const query = keyId ? `?key_id=${encodeURIComponent(keyId)}&limit=200` : "?limit=200";
  const { data } = await api("GET", `/admin/usage${query}`);
  fill("#usage-body", data.map((r) => {
    const tr = document.createElement("tr");
    tr.append(cell(new Date(r.created_at).toLocaleString()), cell(r.request_id), cell(r.key_id),
      cell(r.model), cell(r.endpoint + (r.stream ? " (stream)" : "")),
      cell(`${r.prompt_tokens} / ${r.completion_tokens}`), cell(r.units), cell(usd(r.cost)),
      cell(r.latency_ms), cell(r.status + (r.error ? ` — ${r.error}` : "")));
    return tr;
  }));
}

const LOADERS = { keys: loadKeys, channels: loadChannels, models: loadModels, usage: loadUsage };

function show(tab) {
  document.querySelectorAll(".tab").forEach((section) => { section.hidden = section.id !== tab; });
  document.querySelectorAll("#tabs button[data-tab]").forEach((b) => {
    b.classList.toggle("active", b.dataset.tab === tab);
  });
  LOADERS[tab]().catch(() => {});
}

function signOut() {
  sessionStorage.removeItem("omnirelay-admin");
  $("#tabs").hidden = true;
  document.querySelectorAll(".tab").forEach((section) => { section.hidden = true; });
  $("#login").hidden = false;
}

function signedIn() {
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  show("keys");
}

$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("omnirelay-admin", $("#admin-key").value.trim());
  signedIn();
});
$("#logout").addEventListener("click", signOut);
document.querySelectorAll("#tabs button[data-tab]").forEach((b) => {
  b.addEventListener("click", () => show(b.dataset.tab));
});

$("#key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { name: form.get("name") };
  if (form.get("quota_usd")) body.quota_usd = Number(form.get("quota_usd"));
  const models = String(form.get("models") || "").split(",").map((m) => m.trim()).filter(Boolean);
  if (models.length) body.models = models;
  const created = await api("POST", "/admin/keys", body);
  const notice = $("#new-key");
  notice.textContent = `New key for ${created.name} (shown once): ${created.key}`;
  notice.hidden = false;
  event.target.reset();
  loadKeys();
});

$("#channel-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const models = String(form.get("models") || "").split(",").map((m) => m.trim()).filter(Boolean);
  await api("POST", "/admin/channels", {
    name: form.get("name"), vendor: form.get("vendor"), base_url: form.get("base_url"),
    api_key: form.get("api_key"), models, priority: Number(form.get("priority")),
    weight: Number(form.get("weight")),
  });
  event.target.reset();
  loadChannels();
});

$("#usage-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadUsage().catch(() => {});
});

if (sessionStorage.getItem("omnirelay-admin")) signedIn();
