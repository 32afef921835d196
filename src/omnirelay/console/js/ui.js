// Small building blocks every page uses: elements, formats, tables, dialogs, messages.

/** h("button.primary", {onclick}, "Save") — an element with classes, attributes, children. */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "text") el.textContent = value;
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// --- formats ---------------------------------------------------------------------------------

/** Micro-dollars as dollars: $0.28, $0.0035, $12.50; null is "unlimited". */
export function usd(micro, unlimited = "unlimited") {
  if (micro === null || micro === undefined) return unlimited;
  const sign = micro < 0 ? "−" : "";
  const abs = Math.abs(micro);
  const whole = Math.floor(abs / 1e6);
  let fraction = String(abs % 1e6).padStart(6, "0").replace(/0+$/, "");
  if (fraction.length < 2) fraction = fraction.padEnd(2, "0");
  return `${sign}$${whole.toLocaleString("en-US")}.${fraction}`;
}

export const number = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"));

export function ms(value) {
  if (value === null || value === undefined) return "—";
  return value >= 10000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

export function percent(fraction) {
  return `${(fraction * 100).toFixed(fraction && fraction < 0.1 ? 1 : 0)}%`;
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function ago(iso) {
  if (!iso) return "—";
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export const dollarsToMicro = (text) => Math.round(Number(text) * 1e6);

export function badge(text, tone = "") {
  return h(`span.badge${tone ? "." + tone : ""}`, { text });
}

export function statusBadge(status) {
  const tone = status >= 500 ? "bad" : status >= 400 ? "warn" : "ok";
  return badge(String(status), tone);
}

// --- states ----------------------------------------------------------------------------------

export const loading = (text = "Loading…") => h("p.loading", { role: "status", text });
export const empty = (text) => h("p.empty", { text });

export function errorBox(error) {
  const message = error && error.message ? error.message : String(error);
  return h("p.error", { role: "alert", text: message });
}

/** A slot under a form or a button for what went wrong there. */
export function errorSlot() {
  const slot = h("p.error", { role: "alert", hidden: true });
  slot.show = (error) => {
    slot.textContent = error && error.message ? error.message : String(error);
    slot.hidden = false;
  };
  slot.clear = () => {
    slot.hidden = true;
    slot.textContent = "";
  };
  return slot;
}

/** Run ``work`` for a button: disabled while it runs, errors shown in ``slot``. */
export async function busy(button, slot, work) {
  button.disabled = true;
  slot?.clear();
  try {
    return await work();
  } catch (error) {
    if (slot) slot.show(error);
    else toast(error.message || String(error));
    return undefined;
  } finally {
    button.disabled = false;
  }
}

let toastZone = null;
export function toast(text) {
  if (!toastZone) {
    toastZone = h("div.toast-zone", { role: "status", "aria-live": "polite" });
    document.body.append(toastZone);
  }
  const item = h("div.toast", { text });
  toastZone.append(item);
  setTimeout(() => item.remove(), 4000);
}

// --- tables ----------------------------------------------------------------------------------

/**
 * A table: ``columns`` are {label, value(row) → node|text, num?}; ``onOpen(row)`` makes rows
 * open (click or Enter), ``rowClass(row)`` adds a class.
 */
export function table(columns, rows, { onOpen, rowClass, caption } = {}) {
  const head = h("tr", {}, columns.map((c) => h(`th${c.num ? ".num" : ""}`, { scope: "col", text: c.label })));
  const body = h("tbody");
  for (const row of rows) body.append(tableRow(columns, row, { onOpen, rowClass }));
  return h("div.table-wrap", {}, h("table", {}, caption ? h("caption.visually-hidden", { text: caption }) : null, h("thead", {}, head), body));
}

export function tableRow(columns, row, { onOpen, rowClass } = {}) {
  const tr = h("tr");
  const extra = rowClass ? rowClass(row) : "";
  if (extra) tr.className = extra;
  for (const column of columns) {
    const value = column.value(row);
    tr.append(h(`td${column.num ? ".num" : ""}`, {}, value instanceof Node ? value : value ?? ""));
  }
  if (onOpen) {
    tr.classList.add("clickable");
    tr.tabIndex = 0;
    tr.addEventListener("click", (event) => {
      if (!event.target.closest("button, a, input, select")) onOpen(row);
    });
    tr.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target === tr) onOpen(row);
    });
  }
  return tr;
}

export function kv(pairs) {
  const dl = h("dl.kv");
  for (const [label, value] of pairs) {
    if (value === undefined) continue;
    dl.append(h("dt", { text: label }), h("dd", {}, value instanceof Node ? value : value ?? "—"));
  }
  return dl;
}

// --- dialogs ---------------------------------------------------------------------------------

/** A modal dialog (native <dialog>: focus kept inside, Esc closes); answers {dialog, body, close}. */
export function dialog(title, { drawer = false, onClose } = {}) {
  const heading = h("h2", { text: title, id: `dlg-${Math.random().toString(36).slice(2)}` });
  const body = h("div.dialog-body");
  const closeButton = h("button.small", { type: "button", "aria-label": "Close", text: "Close" });
  const el = h(`dialog${drawer ? ".drawer" : ""}`, { "aria-labelledby": heading.id },
    h("div.dialog-head", {}, heading, closeButton), body);
  const opener = document.activeElement;
  const close = () => el.close();
  closeButton.addEventListener("click", close);
  el.addEventListener("click", (event) => {
    if (event.target === el) close(); // the backdrop
  });
  el.addEventListener("close", () => {
    el.remove();
    onClose?.();
    if (opener && document.contains(opener)) opener.focus();
  });
  document.body.append(el);
  el.showModal();
  return { dialog: el, body, close, heading };
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Without clipboard permission (plain http on another host): select it for Ctrl+C.
    const area = h("textarea", { "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

export function copyButton(getText, label = "Copy") {
  const button = h("button.small.copy", { type: "button", text: label });
  button.addEventListener("click", async () => {
    const ok = await copyText(typeof getText === "function" ? getText() : getText);
    button.textContent = ok ? "Copied" : "Select and copy";
    setTimeout(() => { button.textContent = label; }, 1600);
  });
  return button;
}

/** A secret shown once: read-only field, a copy button, and a warning. */
export function secretReveal(value, what = "key") {
  const input = h("input", { type: "text", readOnly: true, value, "aria-label": `The new ${what}` });
  input.addEventListener("focus", () => input.select());
  return h("div.stack", {},
    h("p.notice", { text: `Copy the ${what} now: it is shown only once and cannot be read again.` }),
    h("div.secret-box", {}, input, copyButton(() => value)));
}

export function confirmDialog(title, message, action = "Confirm") {
  return new Promise((resolve) => {
    let answered = false;
    const { body, close } = dialog(title, { onClose: () => { if (!answered) resolve(false); } });
    const yes = h("button.primary.danger", { type: "button", text: action });
    const no = h("button", { type: "button", text: "Cancel" });
    yes.addEventListener("click", () => { answered = true; resolve(true); close(); });
    no.addEventListener("click", close);
    body.append(h("p", { text: message }), h("div.form-actions", {}, no, yes));
    no.focus();
  });
}

// --- forms -----------------------------------------------------------------------------------

let fieldIds = 0;

/** A labelled control: field("Name", h("input", {name: "name"}), "hint"). The label names
 * the control alone (a wrapping label would read a select's options into its name). */
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++fieldIds}`;
  const note = hint ? h("span.hint", { id: `${control.id}-hint`, text: hint }) : null;
  if (note) control.setAttribute("aria-describedby", note.id);
  return h("div.field", {}, h("label", { for: control.id, text: label }), control, note);
}

export function select(name, options, value) {
  const el = h("select", { name });
  for (const option of options) {
    const [optionValue, text] = Array.isArray(option) ? option : [option, option];
    el.append(h("option", { value: optionValue, text, selected: String(optionValue) === String(value ?? "") }));
  }
  return el;
}

export function formValues(form) {
  const values = {};
  for (const [name, value] of new FormData(form).entries()) values[name] = typeof value === "string" ? value.trim() : value;
  return values;
}

export const splitList = (text) => String(text || "").split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

/** "Load more" paging over a cursor API; ``load(cursor)`` answers {data, next_cursor}. */
export function pager(onMore) {
  const info = h("span");
  const more = h("button.small", { type: "button", text: "Load more", hidden: true });
  more.addEventListener("click", onMore);
  const el = h("div.pager", {}, info, more);
  el.update = (count, hasMore) => {
    info.textContent = count ? `${number(count)} shown` : "";
    more.hidden = !hasMore;
  };
  return el;
}

export function pageHead(title, description, ...actions) {
  return h("div.page-head", {},
    h("div", {}, h("h1", { text: title, tabIndex: -1 }), description ? h("p", { text: description }) : null),
    actions.length ? h("div.actions", {}, actions) : null);
}

/** Re-run ``tick`` every ``seconds`` while the page is shown; answers a stop function. */
export function every(seconds, tick) {
  let stopped = false;
  let timer = null;
  const loop = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try { await tick(); } catch { /* the page shows its own errors */ }
    }
    if (!stopped) timer = setTimeout(loop, seconds * 1000);
  };
  timer = setTimeout(loop, seconds * 1000);
  return () => { stopped = true; clearTimeout(timer); };
}

/** An ISO time as a datetime-local input's value (the browser's time zone). */
export function localInput(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
