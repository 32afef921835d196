// The task gallery: every task (Kling, Midjourney, Suno, Flux …) as a card with its preview —
// a picture, a video, a song — its status and progress, and what it cost or was refunded.
// Cards of tasks still running update in place every two seconds.

import { get } from "../api.js";
import { badge, clear, dialog, empty, errorBox, every, field, h, kv, loading, pageHead, pager, select, usd, when } from "../ui.js";

const STATUSES = [["", "any status"], ["in_flight", "in flight"], ["succeeded", "succeeded"], ["failed", "failed"], ["queued", "queued"], ["running", "running"], ["waiting", "waiting"]];
const VENDORS = [["", "every vendor"], ["kling", "Kling"], ["midjourney", "Midjourney"], ["suno", "Suno"], ["bfl", "Flux (BFL)"]];
const FINISHED = new Set(["succeeded", "failed"]);

function statusTone(status) {
  return status === "succeeded" ? "ok" : status === "failed" ? "bad" : "info";
}

function money(task) {
  if (task.settlement === "refunded") return badge(`refunded ${usd(task.refunded_micro_usd)}`, "warn");
  if (task.settlement === "charged") return h("span", { text: `charged ${usd(task.charged_micro_usd)}` });
  return h("span", { text: `holding ${usd(task.price_micro_usd)}` });
}

function preview(task) {
  const first = task.media[0];
  const label = task.prompt || task.model;
  if (!first) {
    if (task.text) return h("div.preview", {}, h("pre", { text: task.text }));
    const words = FINISHED.has(task.status) ? (task.failure || "no preview") : `${task.status}… ${task.progress}%`;
    return h("div.preview", {}, h("span.placeholder", { text: words }));
  }
  if (first.kind === "video") {
    return h("div.preview", {}, h("video", { src: first.url, controls: true, muted: true, playsInline: true, preload: "metadata", loop: true, "aria-label": `Video: ${label}` }));
  }
  if (first.kind === "audio") {
    return h("div.preview.audio", {},
      first.poster ? h("img", { src: first.poster, alt: "", loading: "lazy" }) : null,
      h("audio", { src: first.url, controls: true, preload: "metadata", "aria-label": `Audio: ${first.title || label}` }));
  }
  return h("div.preview", {}, h("img", { src: first.url, alt: label, loading: "lazy" }));
}

function progressBar(task) {
  const done = task.status === "succeeded";
  const failed = task.status === "failed";
  const value = done || failed ? 100 : task.progress;
  const bar = h("span");
  bar.style.width = `${value}%`;
  return h(`div.progress${done ? ".done" : failed ? ".failed" : ""}`, {
    role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(value),
    "aria-label": `Progress of task ${task.id}`,
  }, bar);
}

function details(task) {
  const { body } = dialog(`Task ${task.id}`, { drawer: true });
  body.append(h("div.stack", {},
    task.media.map((m) => m.kind === "video"
      ? h("video", { src: m.url, controls: true, playsInline: true, preload: "metadata", "aria-label": "Video" })
      : m.kind === "audio"
        ? h("div.stack", {}, m.title ? h("strong", { text: m.title }) : null, h("audio", { src: m.url, controls: true, preload: "metadata", "aria-label": m.title || "Audio" }))
        : h("img", { src: m.url, alt: task.prompt || "result", loading: "lazy" })),
    task.text ? h("pre.code", { text: task.text }) : null,
    kv([
      ["Status", badge(task.status, statusTone(task.status))],
      ["Progress", `${task.progress}%`],
      ["Model", task.model],
      ["Vendor / action", `${task.vendor} · ${task.action}`],
      ["Prompt", task.prompt || "—"],
      ["Price", usd(task.price_micro_usd)],
      ["Charged", task.charged_micro_usd === null ? "not settled" : usd(task.charged_micro_usd)],
      ["Refunded", usd(task.refunded_micro_usd)],
      ["Failure", task.failure ? `${task.failure}${task.failure_code ? ` (${task.failure_code})` : ""}` : "—"],
      ["User / key", `${task.user_id ?? "admin"} / ${task.key_id}`],
      ["Channel", task.channel_id ?? "—"],
      ["Created", new Date(task.created_at).toLocaleString()],
      ["Finished", task.finished_at ? new Date(task.finished_at).toLocaleString() : "—"],
    ])));
}

/** A card for a task; ``card.update(task)`` redraws it (its media only once they exist). */
export function taskCard(task) {
  const card = h("article.card", { dataset: { task: task.id, status: task.status }, "aria-label": `Task ${task.id}` });
  let shownMedia = null;
  let shownTask = null;
  card.update = (next) => {
    const whole = JSON.stringify(next);
    if (whole === shownTask) return; // unchanged: keep focus and playback where they are
    shownTask = whole;
    card.dataset.status = next.status;
    const mediaKey = next.media.map((m) => m.url).join(" ") + (next.text || "") + (next.media.length ? "" : next.status + next.progress);
    const parts = [];
    if (mediaKey !== shownMedia) {
      shownMedia = mediaKey;
      card.querySelector(".preview")?.remove();
      card.prepend(preview(next));
    }
    const open = h("button.small", { type: "button", text: "Details" });
    open.addEventListener("click", () => details(next));
    parts.push(
      h("div.prompt", { text: next.prompt || next.action, title: next.prompt || "" }),
      progressBar(next),
      h("div.meta", {}, badge(next.status, statusTone(next.status)), h("span", { text: `${next.model} · ${next.vendor}` })),
      h("div.meta", {}, money(next), h("time", { datetime: next.created_at, text: when(next.created_at) }), open),
      next.failure ? h("div.hint", { text: next.failure }) : null);
    const body = card.querySelector(".body") || h("div.body");
    clear(body, parts);
    if (!body.parentNode) card.append(body);
  };
  card.update(task);
  return card;
}

export async function render(main, { admin, params, go }) {
  const endpoint = admin ? "/admin/tasks" : "/api/me/tasks";
  const query = Object.fromEntries(["vendor", "status", "model"].map((n) => [n, params.get(n) || ""]).filter(([, v]) => v));
  main.append(pageHead(admin ? "Task gallery" : "Tasks", "Videos, pictures and songs from every task vendor; running tasks update by themselves."));
  const form = h("form.filters", { "aria-label": "Filters" },
    field("Vendor", select("vendor", VENDORS, query.vendor)),
    field("Status", select("status", STATUSES, query.status)),
    field("Model", h("input", { name: "model", value: query.model || "" })),
    h("div.actions", {}, h("button.primary", { type: "submit", text: "Apply" })));
  form.addEventListener("change", (event) => {
    if (event.target.tagName === "SELECT") form.requestSubmit();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries([...new FormData(form)].filter(([, v]) => v));
    go("tasks", values);
  });
  const problem = h("div");
  const grid = h("div.gallery", { "aria-live": "polite" });
  const holder = h("div", {}, loading());
  const more = pager(() => load(cursor));
  main.append(form, problem, holder, more);
  const cards = new Map();
  let cursor = null;

  async function load(from) {
    try {
      const page = await get(endpoint, { ...query, cursor: from });
      problem.replaceChildren();
      if (!from && !page.data.length) {
        clear(holder, empty("No task yet. Submit one from the playground, or through the Kling, Suno or Midjourney APIs."));
      } else if (!from) {
        clear(holder, grid);
      }
      for (const task of page.data) {
        const card = taskCard(task);
        cards.set(task.id, card);
        grid.append(card);
      }
      cursor = page.next_cursor;
      more.update(cards.size, Boolean(cursor));
    } catch (error) {
      clear(problem, errorBox(error));
      if (!cards.size) holder.replaceChildren();
    }
  }

  async function poll() {
    const running = [...cards.entries()].filter(([, card]) => !FINISHED.has(card.dataset.status));
    const first = await get(endpoint, { ...query, limit: 24 });
    const seen = new Set();
    for (const task of first.data.reverse()) {
      seen.add(task.id);
      if (cards.has(task.id)) {
        cards.get(task.id).update(task);
        continue;
      }
      const card = taskCard(task);
      cards.set(task.id, card);
      if (!grid.parentNode) clear(holder, grid);
      grid.prepend(card);
    }
    for (const [id, card] of running) {
      if (!seen.has(id)) card.update(await get(`${endpoint}/${id}`));
    }
    more.update(cards.size, Boolean(cursor));
  }

  await load(null);
  return every(2, poll);
}
