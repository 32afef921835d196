// The playground: chat streamed token by token in the model's own wire format (OpenAI chat
// completions, Anthropic Messages or Gemini), image generation, and a task you watch finish.
// Requests go to the gateway's real endpoints as the signed-in key (the session cookie).

import { api, get, stream } from "../api.js";
import { busy, clear, empty, errorSlot, field, h, ms, number, pageHead, select } from "../ui.js";
import { taskCard } from "./tasks.js";

const FORMATS = {
  openai: {
    label: "OpenAI chat completions · POST /v1/chat/completions",
    request(model, history, system) {
      const messages = system ? [{ role: "system", content: system }, ...history] : history;
      return { path: "/v1/chat/completions", body: { model, messages, stream: true, stream_options: { include_usage: true } } };
    },
    read(data, out) {
      if (data === "[DONE]") return;
      const chunk = JSON.parse(data);
      const text = chunk.choices?.[0]?.delta?.content;
      if (text) out.text(text);
      if (chunk.usage) out.usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens);
    },
  },
  anthropic: {
    label: "Anthropic Messages · POST /v1/messages",
    request(model, history, system) {
      const body = { model, max_tokens: 1024, messages: history, stream: true };
      if (system) body.system = system;
      return { path: "/v1/messages", body };
    },
    read(data, out, event) {
      const message = JSON.parse(data);
      if (event === "error" || message.type === "error") throw new Error(message.error?.message || "the stream failed");
      if (message.type === "content_block_delta" && message.delta?.type === "text_delta") out.text(message.delta.text);
      if (message.type === "message_start") out.usage(message.message?.usage?.input_tokens, null);
      if (message.type === "message_delta") out.usage(null, message.usage?.output_tokens);
    },
  },
  gemini: {
    label: "Gemini · POST /v1beta/models/{model}:streamGenerateContent",
    request(model, history, system) {
      const contents = history.map((m) => ({ role: m.role === "assistant" ? "model" : "user", parts: [{ text: m.content }] }));
      const body = { contents };
      if (system) body.systemInstruction = { parts: [{ text: system }] };
      return { path: `/v1beta/models/${encodeURIComponent(model)}:streamGenerateContent`, query: { alt: "sse" }, body };
    },
    read(data, out) {
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      for (const part of chunk.candidates?.[0]?.content?.parts || []) if (part.text && !part.thought) out.text(part.text);
      if (chunk.usageMetadata) out.usage(chunk.usageMetadata.promptTokenCount, chunk.usageMetadata.candidatesTokenCount);
    },
  },
};
// A model's family decides the wire format it is spoken to in; the rest speak OpenAI's.
const formatOf = (model) => (FORMATS[model.family] ? model.family : "openai");

const TASKS = {
  video: {
    label: "Kling video (text to video)",
    families: ["kling"],
    submit: (model, prompt) => ({ path: "/kling/v1/videos/text2video", body: { model_name: model, prompt, duration: "5", mode: "std" }, id: (r) => r.data.task_id }),
  },
  picture: {
    label: "Kling pictures",
    families: ["kling"],
    submit: (model, prompt) => ({ path: "/kling/v1/images/generations", body: { model_name: model, prompt, n: 1 }, id: (r) => r.data.task_id }),
  },
  song: {
    label: "Suno song",
    families: ["suno"],
    submit: (model, prompt) => ({ path: "/suno/submit/music", body: { gpt_description_prompt: prompt, mv: model }, id: (r) => r.data }),
  },
  imagine: {
    label: "Midjourney imagine",
    families: ["midjourney"],
    submit: (_model, prompt) => ({ path: "/mj/submit/imagine", body: { prompt }, id: (r) => r.result }),
  },
};

function chatTab(models) {
  const chats = models.filter((m) => m.kind === "chat");
  if (!chats.length) return empty("No chat model is served to this key.");
  const preferred = chats.find((m) => m.name === "gpt-4o-mini") || chats[0];
  const modelSelect = select("model", chats.map((m) => [m.name, `${m.name} (${m.family})`]), preferred.name);
  const formatLine = h("p.hint", { "aria-live": "polite" });
  const system = h("textarea", { name: "system", rows: 2, placeholder: "optional" });
  const prompt = h("textarea", { name: "prompt", rows: 3, required: true, placeholder: "Ask something… (Ctrl+Enter sends)" });
  const send = h("button.primary", { type: "submit", text: "Send" });
  const stop = h("button", { type: "button", text: "Stop", disabled: true });
  const reset = h("button", { type: "button", text: "New conversation" });
  const slot = errorSlot();
  const transcript = h("div.transcript", { role: "log", "aria-live": "polite", "aria-label": "Conversation" }, h("p.empty", { text: "Messages appear here as they stream." }));
  let history = [];
  let controller = null;
  const showFormat = () => {
    const model = chats.find((m) => m.name === modelSelect.value);
    formatLine.textContent = `Spoken in ${FORMATS[formatOf(model)].label}`;
  };
  modelSelect.addEventListener("change", showFormat);
  showFormat();
  reset.addEventListener("click", () => {
    history = [];
    clear(transcript, h("p.empty", { text: "Messages appear here as they stream." }));
  });
  stop.addEventListener("click", () => controller?.abort());
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  const form = h("form.form", { "aria-label": "Chat" },
    h("div.form-row", {}, field("Model", modelSelect)), formatLine,
    field("System prompt", system), field("Message", prompt), slot,
    h("div.form-actions", {}, reset, stop, send));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = prompt.value.trim();
    if (!text) return;
    const model = chats.find((m) => m.name === modelSelect.value);
    const format = FORMATS[formatOf(model)];
    transcript.querySelector(".empty")?.remove();
    transcript.append(h("div.bubble.user", { text }));
    const answer = h("div.bubble.assistant", { dataset: { chunks: "0", state: "streaming" } });
    const words = h("span.answer");
    const stats = h("span.stats", { text: "waiting for the first token…" });
    answer.append(words, stats);
    transcript.append(answer);
    history.push({ role: "user", content: text });
    prompt.value = "";
    send.disabled = true;
    stop.disabled = false;
    slot.clear();
    controller = new AbortController();
    const started = performance.now();
    let first = null;
    let chunks = 0;
    let usage = [null, null];
    const out = {
      text(piece) {
        if (first === null) first = performance.now() - started;
        chunks += 1;
        words.textContent += piece;
        answer.dataset.chunks = String(chunks);
        stats.textContent = `first token ${ms(first)} · ${chunks} chunks`;
        transcript.scrollTop = transcript.scrollHeight;
      },
      usage(input, output) {
        usage = [input ?? usage[0], output ?? usage[1]];
      },
    };
    try {
      const { path, body, query } = format.request(model.name, history, system.value.trim());
      await stream(path, body, (data, name) => format.read(data, out, name), { signal: controller.signal, query });
      const total = performance.now() - started;
      history.push({ role: "assistant", content: words.textContent });
      const tokens = usage[1] ? ` · ${number(usage[0])} in / ${number(usage[1])} out tokens` : "";
      stats.textContent = `first token ${ms(first)} · ${ms(total)} in all · ${chunks} chunks${tokens}`;
      answer.dataset.state = "done";
    } catch (error) {
      answer.dataset.state = "failed";
      history.pop();
      if (error.name === "AbortError") stats.textContent = "stopped";
      else {
        answer.remove();
        transcript.append(h("p.error.bubble", { role: "alert", text: error.message }));
      }
    } finally {
      send.disabled = false;
      stop.disabled = true;
      controller = null;
    }
  });
  return h("div.grid.two", {}, h("div.panel", {}, form), h("div.panel", {}, h("h2", { text: "Conversation" }), transcript));
}

function imageTab(models) {
  const images = models.filter((m) => m.kind === "image" || (m.kind === "task" && m.family === "bfl"));
  if (!images.length) return empty("No image model is served to this key.");
  const modelSelect = select("model", images.map((m) => [m.name, `${m.name} (${m.family})`]), images[0].name);
  const prompt = h("textarea", { name: "prompt", rows: 3, required: true, placeholder: "A lighthouse at dusk, oil painting" });
  const size = select("size", ["1024x1024", "1792x1024", "1024x1792", "512x512"], "1024x1024");
  const count = h("input", { name: "n", type: "number", min: "1", max: "4", value: "1" });
  const go = h("button.primary", { type: "submit", text: "Generate" });
  const slot = errorSlot();
  const out = h("div.images-out", { "aria-live": "polite" });
  const note = h("p.hint");
  const form = h("form.form", { "aria-label": "Generate images" },
    h("div.form-row", {}, field("Model", modelSelect), field("Size", size), field("How many", count)),
    field("Prompt", prompt), slot, h("div.form-actions", {}, go));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(go, slot, async () => {
      note.textContent = "Generating…";
      const started = performance.now();
      const result = await api("POST", "/v1/images/generations", {
        body: { model: modelSelect.value, prompt: prompt.value.trim(), n: Number(count.value), size: size.value, response_format: "b64_json" },
      });
      clear(out, result.data.map((item) => h("img", { src: `data:image/png;base64,${item.b64_json}`, alt: item.revised_prompt || prompt.value })));
      note.textContent = `${result.data.length} image(s) in ${ms(performance.now() - started)}`;
    }).finally(() => { if (note.textContent === "Generating…") note.textContent = ""; });
  });
  return h("div.grid.two", {}, h("div.panel", {}, form), h("div.panel", {}, h("h2", { text: "Result" }), note, out));
}

function taskTab(models, admin, stoppers) {
  const kinds = Object.entries(TASKS).filter(([, t]) => models.some((m) => t.families.includes(m.family)));
  if (!kinds.length) return empty("No task model is served to this key.");
  const kindSelect = select("kind", kinds.map(([id, t]) => [id, t.label]), kinds[0][0]);
  const modelSelect = h("select", { name: "model" });
  const drawModels = () => {
    const task = TASKS[kindSelect.value];
    clear(modelSelect, models.filter((m) => task.families.includes(m.family) && m.kind === "task" && !/lyrics/.test(m.name))
      .map((m) => h("option", { value: m.name, text: m.name })));
  };
  kindSelect.addEventListener("change", drawModels);
  drawModels();
  const prompt = h("textarea", { name: "prompt", rows: 3, required: true, placeholder: "A paper boat drifting down a rainy street" });
  const submit = h("button.primary", { type: "submit", text: "Submit task" });
  const slot = errorSlot();
  const watch = h("div.gallery", { "aria-live": "polite" });
  const base = admin ? "/admin/tasks" : "/api/me/tasks";
  const form = h("form.form", { "aria-label": "Submit a task" },
    h("div.form-row", {}, field("Task", kindSelect), field("Model", modelSelect)),
    field("Prompt", prompt), slot, h("div.form-actions", {}, submit));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, slot, async () => {
      const spec = TASKS[kindSelect.value].submit(modelSelect.value, prompt.value.trim());
      const answer = await api("POST", spec.path, { body: spec.body });
      const id = spec.id(answer);
      const card = taskCard(await get(`${base}/${id}`));
      watch.prepend(card);
      let timer = null;
      const follow = async () => {
        try {
          const task = await get(`${base}/${id}`);
          card.update(task);
          if (task.status === "succeeded" || task.status === "failed") return;
        } catch { /* try again */ }
        timer = setTimeout(follow, 1000);
      };
      timer = setTimeout(follow, 700);
      stoppers.push(() => clearTimeout(timer));
    });
  });
  return h("div.grid.two", {}, h("div.panel", {}, form), h("div.panel", {}, h("h2", { text: "Watching" }), watch,
    h("p.hint", { text: "The card updates as the vendor reports progress; finished tasks are in the gallery too." })));
}

export async function render(main, { admin }) {
  main.append(pageHead("Playground", admin ? "Try any model as the admin key (charged to it like any request)." : "Try the models your key may use; requests are charged to your balance."));
  const models = admin
    ? (await get("/admin/models")).data.filter((m) => m.routable)
    : (await get("/api/me/models")).data;
  const stoppers = [];
  const tabs = [["chat", "Chat", () => chatTab(models)], ["image", "Images", () => imageTab(models)], ["task", "Task", () => taskTab(models, admin, stoppers)]];
  const bar = h("div.tabs", { role: "tablist", "aria-label": "Playground" });
  const panels = h("div");
  const built = new Map();
  const show = (id) => {
    for (const button of bar.children) button.setAttribute("aria-selected", String(button.dataset.tab === id));
    for (const [key, panel] of built) panel.hidden = key !== id;
    if (!built.has(id)) {
      const panel = h("div", { role: "tabpanel", id: `tab-${id}`, "aria-labelledby": `tab-button-${id}` }, tabs.find(([key]) => key === id)[2]());
      built.set(id, panel);
      panels.append(panel);
    }
  };
  for (const [id, label] of tabs) {
    const button = h("button", { type: "button", role: "tab", id: `tab-button-${id}`, "aria-controls": `tab-${id}`, dataset: { tab: id }, text: label });
    button.addEventListener("click", () => show(id));
    button.addEventListener("keydown", (event) => {
      const order = tabs.map(([key]) => key);
      const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      const next = order[(order.indexOf(id) + step + order.length) % order.length];
      show(next);
      bar.querySelector(`[data-tab="${next}"]`).focus();
    });
    bar.append(button);
  }
  main.append(bar, panels);
  show("chat");
  return () => stoppers.forEach((stopIt) => stopIt());
}
