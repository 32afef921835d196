// Get started: copy-paste settings for curl, the OpenAI Python SDK, Claude Code, Codex CLI and
// Gemini CLI, with this gateway's base URL (docs/clients.md and docs/responses.md say why).

import { api, get } from "../api.js";
import { busy, clear, copyButton, errorSlot, field, h, pageHead, secretReveal, select } from "../ui.js";

const SNIPPETS = {
  curl: {
    label: "curl",
    text: ({ base, key, model }) => `curl ${base}/v1/chat/completions \\
  -H "Authorization: Bearer ${key}" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}]}'`,
  },
  python: {
    label: "Python (openai SDK)",
    text: ({ base, key, model }) => `# pip install openai
from openai import OpenAI

client = OpenAI(base_url="${base}/v1", api_key="${key}")
reply = client.chat.completions.create(
    model="${model}",
    messages=[{"role": "user", "content": "Hello!"}],
)
print(reply.choices[0].message.content)`,
  },
  claude: {
    label: "Claude Code",
    text: ({ base, key, model }) => `# npm install -g @anthropic-ai/claude-code
export ANTHROPIC_BASE_URL=${base}            # the root, no /v1
export ANTHROPIC_AUTH_TOKEN=${key}
export DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1
export ANTHROPIC_DEFAULT_HAIKU_MODEL=${model}   # its background model, one you can use
claude --model ${model}`,
  },
  codex: {
    label: "Codex CLI",
    text: ({ base, key, model }) => `# npm install -g @openai/codex
# ~/.codex/config.toml
model = "${model}"
model_provider = "omnirelay"

[model_providers.omnirelay]
name = "omnirelay"
base_url = "${base}/v1"
env_key = "OMNIRELAY_API_KEY"
wire_api = "responses"

# then, in your shell:
export OMNIRELAY_API_KEY=${key}
codex exec --skip-git-repo-check "Explain this repository"`,
  },
  gemini: {
    label: "Gemini CLI",
    text: ({ base, key, model }) => `# npm install -g @google/gemini-cli
# ~/.gemini/settings.json: {"security": {"auth": {"selectedType": "gemini-api-key"}}}
export GEMINI_API_KEY=${key}
export GOOGLE_GEMINI_BASE_URL=${base}        # the root, no /v1beta
gemini -m ${model} -p "explain this repository"`,
  },
};

export async function render(main, { admin }) {
  const base = location.origin;
  main.append(pageHead("Get started", `One base URL for every client: ${base}`));
  const models = admin
    ? (await get("/admin/models")).data.filter((m) => m.routable && m.kind === "chat")
    : (await get("/api/me/models")).data.filter((m) => m.kind === "chat");
  const preferred = models.find((m) => m.name === "gpt-4o-mini") || models[0];
  const modelSelect = select("model", models.map((m) => [m.name, m.name]), preferred?.name);
  let key = "$OMNIRELAY_API_KEY";
  const keyNote = h("div");
  const make = h("button", { type: "button", text: "Create a key for these snippets", hidden: admin });
  const slot = errorSlot();
  make.addEventListener("click", () => busy(make, slot, async () => {
    const created = await api("POST", "/api/me/keys", { body: { name: `snippets ${new Date().toISOString().slice(0, 16).replace("T", " ")}` } });
    key = created.key;
    clear(keyNote, secretReveal(created.key));
    draw();
  }));
  const tabs = h("div.tabs", { role: "tablist", "aria-label": "Clients" });
  const code = h("pre.code", { tabIndex: 0, id: "snippet" });
  let current = "curl";
  const draw = () => {
    code.textContent = SNIPPETS[current].text({ base, key, model: modelSelect.value || "gpt-4o-mini" });
    for (const button of tabs.children) button.setAttribute("aria-selected", String(button.dataset.snippet === current));
  };
  for (const [id, snippet] of Object.entries(SNIPPETS)) {
    const button = h("button", { type: "button", role: "tab", "aria-controls": "snippet", dataset: { snippet: id }, text: snippet.label });
    button.addEventListener("click", () => { current = id; draw(); });
    tabs.append(button);
  }
  modelSelect.addEventListener("change", draw);
  main.append(h("div.stack", {},
    h("section.panel.stack", {},
      h("div.form-row", {}, field("Model", modelSelect), h("div", {}, make)),
      slot, keyNote,
      h("p.hint", { text: admin ? "Use a user's key (Keys page) in place of $OMNIRELAY_API_KEY." : "Keys are never shown again after they are made: the snippets use $OMNIRELAY_API_KEY unless you create one here." })),
    h("section.panel", { "aria-label": "Snippets" }, tabs, h("div.code-block", {}, code, copyButton(() => code.textContent))),
    h("section.panel", {}, h("h2", { text: "Chat apps" }),
      h("p", { text: `NextChat, Lobe Chat, Cherry Studio and the like: set the API host to ${base} and paste your key; they read your balance from ${base}/v1/dashboard/billing/subscription.` }))));
  draw();
}
