// The console's shell: who is signed in, the navigation, and the page the address names
// (#/overview, #/log?model=gpt-4o …). Each page module exports render(main, ctx) → cleanup.

import { ApiError, api, get, onSignedOut, setCsrf } from "./api.js";
import { clear, errorBox, errorSlot, field, h, loading } from "./ui.js";

const ADMIN_PAGES = [
  ["Operate", [
    ["overview", "Overview"],
    ["log", "Request log"],
    ["tasks", "Task gallery"],
    ["playground", "Playground"],
  ]],
  ["Manage", [
    ["users", "Users & groups"],
    ["keys", "Keys"],
    ["codes", "Redemption codes"],
    ["channels", "Channels"],
    ["models", "Models & prices"],
  ]],
  ["Help", [["start", "Get started"]]],
];
const USER_PAGES = [
  ["Account", [
    ["me", "Dashboard"],
    ["my-keys", "Keys"],
    ["log", "Request log"],
    ["tasks", "Tasks"],
    ["playground", "Playground"],
    ["start", "Get started"],
  ]],
];
const MODULES = {
  overview: () => import("./pages/overview.js"),
  log: () => import("./pages/log.js"),
  tasks: () => import("./pages/tasks.js"),
  playground: () => import("./pages/playground.js"),
  users: () => import("./pages/users.js"),
  keys: () => import("./pages/keys.js"),
  codes: () => import("./pages/codes.js"),
  channels: () => import("./pages/channels.js"),
  models: () => import("./pages/models.js"),
  start: () => import("./pages/start.js"),
  me: () => import("./pages/me.js"),
  "my-keys": () => import("./pages/mykeys.js"),
};

const root = document.getElementById("app");
let session = null;
let cleanup = null;

function route() {
  const [name, query] = location.hash.replace(/^#\/?/, "").split("?");
  return { name: name || "", params: new URLSearchParams(query || "") };
}

export function go(name, params) {
  const query = params ? new URLSearchParams(params).toString() : "";
  location.hash = `#/${name}${query ? "?" + query : ""}`;
}

function pagesFor(who) {
  return who.is_admin ? ADMIN_PAGES : USER_PAGES;
}

function allowed(who, name) {
  return pagesFor(who).some(([, pages]) => pages.some(([id]) => id === name));
}

function showLogin(message) {
  session = null;
  setCsrf(null);
  cleanup?.();
  cleanup = null;
  const slot = errorSlot();
  const key = h("input", { type: "password", name: "key", autocomplete: "off", required: true, placeholder: "sk-or-…", spellcheck: "false" });
  const submit = h("button.primary", { type: "submit", text: "Sign in" });
  const form = h("form.form", { "aria-label": "Sign in" },
    field("API key", key, "An admin key opens the operator console; a user key opens your account."),
    slot, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    slot.clear();
    try {
      const info = await api("POST", "/console/api/login", { body: { key: key.value.trim() } });
      key.value = "";
      start(info);
    } catch (error) {
      slot.show(error);
      key.focus();
    } finally {
      submit.disabled = false;
    }
  });
  if (message) slot.show(message);
  clear(root, h("main.login", { id: "main" },
    h("div.panel", {},
      h("div.brand", {}, h("span.brand-mark", { text: "or" }), "omnirelay"),
      h("h1", { text: "Sign in" }),
      h("p.hint", { text: "Your key stays on the server: this browser keeps only a session cookie." }),
      form)));
  key.focus();
}

function shell(who) {
  const nav = h("nav.nav", { "aria-label": "Pages" });
  for (const [section, pages] of pagesFor(who)) {
    nav.append(h("div.nav-section", { text: section }));
    for (const [id, label] of pages) nav.append(h("a", { href: `#/${id}`, dataset: { page: id }, text: label }));
  }
  const signOut = h("button.small", { type: "button", text: "Sign out" });
  signOut.addEventListener("click", async () => {
    signOut.disabled = true;
    await api("POST", "/console/api/logout").catch(() => {});
    location.hash = "";
    showLogin();
  });
  const role = who.is_admin ? "admin" : `user ${who.user_name ?? who.user_id} · ${who.group}`;
  const sidebar = h("aside.sidebar", { id: "sidebar" },
    h("div.brand", {}, h("span.brand-mark", { text: "or" }), "omnirelay"),
    nav,
    h("div.who", {}, "Signed in as", h("strong", { text: who.key_name }), h("span", { text: role }),
      h("div", {}, signOut)));
  const menu = h("button.small", { type: "button", "aria-controls": "sidebar", "aria-expanded": "false", text: "Menu" });
  menu.addEventListener("click", () => {
    const open = sidebar.classList.toggle("open");
    menu.setAttribute("aria-expanded", String(open));
  });
  nav.addEventListener("click", (event) => {
    if (event.target.closest("a")) {
      sidebar.classList.remove("open");
      menu.setAttribute("aria-expanded", "false");
    }
  });
  const topbar = h("header.topbar", {}, h("div.brand", {}, h("span.brand-mark", { text: "or" }), "omnirelay"), menu);
  const main = h("main.main", { id: "main", tabIndex: -1 });
  clear(root, topbar, h("div.shell", {}, sidebar, main));
  return { main, nav };
}

let frame = null;

async function render() {
  if (!session) return;
  const { name, params } = route();
  const home = session.who.is_admin ? "overview" : "me";
  if (!name || !allowed(session.who, name)) {
    go(home);
    return;
  }
  for (const link of frame.nav.querySelectorAll("a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  cleanup?.();
  cleanup = null;
  const main = frame.main;
  clear(main, loading());
  try {
    const module = await MODULES[name]();
    if (route().name !== name) return; // the address changed meanwhile
    main.replaceChildren();
    const ctx = { who: session.who, admin: session.who.is_admin, params, go };
    cleanup = (await module.render(main, ctx)) || null;
    document.title = `${main.querySelector("h1")?.textContent || "Console"} · omnirelay`;
  } catch (error) {
    clear(main, errorBox(error));
  }
}

function start(info) {
  session = info;
  setCsrf(info.csrf_token);
  frame = shell(info.who);
  render();
}

onSignedOut(() => {
  if (session) showLogin("Your session ended: sign in again.");
});
addEventListener("hashchange", render);

(async () => {
  try {
    const info = await get("/console/api/session");
    if (info) start(info);
    else showLogin();
  } catch (error) {
    showLogin(error instanceof ApiError && error.status === 401 ? null : error);
  }
})();
