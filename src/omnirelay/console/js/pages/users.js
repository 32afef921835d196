// Users and groups: who spends, in which group (at what price ratio), under which limits.

import { api, get } from "../api.js";
import { badge, busy, clear, dialog, empty, errorBox, errorSlot, field, formValues, h, loading, number, pageHead, pager, select, splitList, table, tableRow, toast, usd } from "../ui.js";
import { limitFields, limitsFrom, limitsSummary } from "./keys.js";

function userDialog(user, groups, reload) {
  const { body, close } = dialog(`Edit ${user.name}`);
  const slot = errorSlot();
  const save = h("button.primary", { type: "submit", text: "Save" });
  const form = h("form.form", {},
    h("div.form-row", {},
      field("Name", h("input", { name: "name", value: user.name, required: true })),
      field("Group", select("group", groups.map((g) => [g.name, `${g.name} (${g.ratio}×)`]), user.group))),
    h("label.check", {}, h("input", { type: "checkbox", name: "enabled", value: "true", checked: user.enabled }), "Enabled (a disabled user's keys are refused)"),
    h("label.check", {}, h("input", { type: "checkbox", name: "unlimited", value: "true", checked: user.balance_micro_usd === null }), "Unlimited balance"),
    limitFields(user.limits),
    field("Note", h("input", { name: "note", value: user.note || "" })),
    slot, h("div.form-actions", {}, save));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, slot, async () => {
      const values = formValues(form);
      const change = {
        name: values.name,
        group: values.group,
        enabled: values.enabled === "true",
        limits: limitsFrom(values),
        note: values.note || null,
      };
      const unlimited = values.unlimited === "true";
      if (unlimited !== (user.balance_micro_usd === null)) change.unlimited = unlimited;
      await api("PATCH", `/admin/users/${user.id}`, { body: change });
      close();
      toast(`Saved ${values.name}`);
      reload();
    });
  });
  body.append(form);
}

function topUpDialog(user, reload) {
  const { body, close } = dialog(`Top up ${user.name}`);
  const slot = errorSlot();
  const save = h("button.primary", { type: "submit", text: "Add to balance" });
  const form = h("form.form", {},
    h("p", { text: `Balance now: ${usd(user.balance_micro_usd)}` }),
    field("Amount (USD)", h("input", { name: "amount", type: "number", step: "0.01", required: true, value: "10" }), "Negative to correct a mistake; never below zero"),
    field("Note", h("input", { name: "note", placeholder: "e.g. paid by invoice 17" })),
    slot, h("div.form-actions", {}, save));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, slot, async () => {
      const values = formValues(form);
      const done = await api("POST", `/admin/users/${user.id}/topups`, { body: { amount_usd: Number(values.amount), note: values.note || null } });
      close();
      toast(`${user.name}: balance now ${usd(done.user.balance_micro_usd)}`);
      reload();
    });
  });
  body.append(form);
}

function groupDialog(group, models, reload) {
  const editing = Boolean(group);
  const { body, close } = dialog(editing ? `Group ${group.name}` : "New group");
  const slot = errorSlot();
  const save = h("button.primary", { type: "submit", text: editing ? "Save" : "Create group" });
  const form = h("form.form", {},
    h("div.form-row", {},
      field("Name", h("input", { name: "name", required: true, value: group?.name || "" })),
      field("Price ratio", h("input", { name: "ratio", type: "number", step: "0.01", min: "0.01", required: true, value: group?.ratio ?? 1 }), "0.8: prices 20% off")),
    field("Models its users may see", h("input", { name: "models", list: "group-models", value: group?.models ? group.models.join(", ") : "", placeholder: "empty: all" })),
    h("datalist", { id: "group-models" }, models.map((m) => h("option", { value: m }))),
    limitFields(group?.limits),
    slot, h("div.form-actions", {}, save));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, slot, async () => {
      const values = formValues(form);
      const list = splitList(values.models);
      const spec = { name: values.name, ratio: Number(values.ratio), models: list.length ? list : null, limits: limitsFrom(values) };
      if (editing) await api("PATCH", `/admin/groups/${group.id}`, { body: spec });
      else await api("POST", "/admin/groups", { body: spec });
      close();
      toast(editing ? `Saved ${values.name}` : `Created ${values.name}`);
      reload();
    });
  });
  body.append(form);
}

export async function render(main) {
  main.append(pageHead("Users & groups", "Users own balances and keys; a group sets their price ratio, models and default limits."));
  let groups = [];
  let models = [];
  const slot = errorSlot();
  const create = h("button.primary", { type: "submit", text: "Create user" });
  const groupSelect = select("group", [["default", "default"]], "default");
  const form = h("form.form.panel", { "aria-label": "Create a user" },
    h("h2", { text: "New user" }),
    h("div.form-row", {},
      field("Name", h("input", { name: "name", required: true, autocomplete: "off" })),
      field("Group", groupSelect),
      field("Opening balance (USD)", h("input", { name: "balance_usd", type: "number", min: "0", step: "0.01", value: "0" })),
      h("label.check", {}, h("input", { type: "checkbox", name: "unlimited", value: "true" }), "Unlimited")),
    slot, h("div.form-actions", {}, create));
  const search = h("input", { type: "search", name: "q", placeholder: "part of a name" });
  const problem = h("div");
  const usersHolder = h("div", {}, loading());
  let cursor = null;
  let shown = 0;
  let body = null;
  const more = pager(() => loadUsers(cursor));
  const groupsHolder = h("div", {}, loading());
  const newGroup = h("button", { type: "button", text: "New group" });
  newGroup.addEventListener("click", () => groupDialog(null, models, loadGroups));
  main.append(h("div.stack", {},
    form,
    h("section.stack", { "aria-labelledby": "users-h" },
      h("div.panel-head", {}, h("h2", { id: "users-h", text: "Users" }), h("div.filters", {}, field("Search", search))),
      problem, usersHolder, more),
    h("section.stack", { "aria-labelledby": "groups-h" },
      h("div.panel-head", {}, h("h2", { id: "groups-h", text: "Groups" }), newGroup), groupsHolder)));

  const columns = [
    { label: "Id", value: (u) => u.id },
    { label: "Name", value: (u) => u.name },
    { label: "Group", value: (u) => u.group },
    { label: "Balance", num: true, value: (u) => usd(u.balance_micro_usd) },
    { label: "Spent", num: true, value: (u) => usd(u.spent_micro_usd) },
    { label: "Keys", num: true, value: (u) => number(u.keys) },
    { label: "Limits", value: (u) => limitsSummary(u.limits) },
    { label: "State", value: (u) => badge(u.enabled ? "enabled" : "disabled", u.enabled ? "ok" : "bad") },
    { label: "", value: (u) => userActions(u) },
  ];

  function userActions(user) {
    const edit = h("button.small", { type: "button", text: "Edit", "aria-label": `Edit ${user.name}` });
    edit.addEventListener("click", () => userDialog(user, groups, () => loadUsers(null)));
    const topUp = h("button.small", { type: "button", text: "Top up", "aria-label": `Top up ${user.name}`, disabled: user.balance_micro_usd === null });
    topUp.addEventListener("click", () => topUpDialog(user, () => loadUsers(null)));
    const keys = h("a.button.small", { href: `#/keys?user_id=${user.id}`, text: "Keys" });
    const log = h("a.button.small", { href: `#/log?user_id=${user.id}`, text: "Log" });
    return h("div.actions", {}, edit, topUp, keys, log);
  }

  async function loadUsers(from) {
    try {
      const page = await get("/admin/users", { name: search.value.trim(), cursor: from, limit: 50 });
      problem.replaceChildren();
      if (!from) {
        shown = 0;
        if (!page.data.length) {
          clear(usersHolder, empty(search.value ? "No user has that in their name." : "No user yet."));
          body = null;
        } else {
          const built = table(columns, page.data, { rowClass: (u) => (u.enabled ? "" : "off"), caption: "Users" });
          body = built.querySelector("tbody");
          clear(usersHolder, built);
        }
      } else {
        page.data.forEach((u) => body.append(tableRow(columns, u, { rowClass: (x) => (x.enabled ? "" : "off") })));
      }
      shown += page.data.length;
      cursor = page.next_cursor;
      more.update(shown, Boolean(cursor));
    } catch (error) {
      clear(problem, errorBox(error));
    }
  }

  async function loadGroups() {
    try {
      groups = (await get("/admin/groups")).data;
      const current = groupSelect.value;
      clear(groupSelect, groups.map((g) => h("option", { value: g.name, text: `${g.name} (${g.ratio}×)`, selected: g.name === current })));
      clear(groupsHolder, table([
        { label: "Name", value: (g) => g.name },
        { label: "Ratio", num: true, value: (g) => `${g.ratio}×` },
        { label: "Models", value: (g) => (g.models ? g.models.join(", ") : "all") },
        { label: "Limits", value: (g) => limitsSummary(g.limits) },
        { label: "Users", num: true, value: (g) => number(g.users) },
        { label: "", value: (g) => {
          const edit = h("button.small", { type: "button", text: "Edit", "aria-label": `Edit group ${g.name}` });
          edit.addEventListener("click", () => groupDialog(g, models, loadGroups));
          const remove = h("button.small.danger", { type: "button", text: "Delete", "aria-label": `Delete group ${g.name}`, disabled: g.users > 0 || g.name === "default" });
          remove.addEventListener("click", async () => {
            try {
              await api("DELETE", `/admin/groups/${g.id}`);
              loadGroups();
            } catch (error) {
              toast(error.message);
            }
          });
          return h("div.actions", {}, edit, remove);
        } },
      ], groups, { caption: "Groups" }));
    } catch (error) {
      clear(groupsHolder, errorBox(error));
    }
  }

  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadUsers(null), 250);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(create, slot, async () => {
      const values = formValues(form);
      const user = await api("POST", "/admin/users", {
        body: { name: values.name, group: values.group, balance_usd: values.unlimited === "true" ? null : Number(values.balance_usd || 0) },
      });
      form.reset();
      toast(`Created user ${user.name} (#${user.id})`);
      loadUsers(null);
      loadGroups();
    });
  });
  get("/admin/models").then((r) => { models = r.data.map((m) => m.name); }).catch(() => {});
  await Promise.all([loadUsers(null), loadGroups()]);
  return () => clearTimeout(searchTimer);
}
