// Talking to the gateway. The session is an HttpOnly cookie the page cannot read; changes carry
// the session's CSRF token, which lives only in this module's memory.

let csrfToken = null;
const listeners = new Set();

export function setCsrf(token) {
  csrfToken = token;
}

/** Called with no argument when the server says the session is gone (401). */
export function onSignedOut(listener) {
  listeners.add(listener);
}

export class ApiError extends Error {
  constructor(status, message, code = null, param = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

function queryString(query) {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function url(path, query) {
  return path + queryString(query);
}

function headers(method, body) {
  const out = { Accept: "application/json" };
  if (body !== undefined) out["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) out["X-CSRF-Token"] = csrfToken;
  return out;
}

async function failure(response) {
  let message = `HTTP ${response.status}`;
  let code = null;
  let param = null;
  const text = await response.text().catch(() => "");
  try {
    const data = JSON.parse(text);
    // Every surface puts its message at error.message (OpenAI, Anthropic, Gemini); Kling,
    // Suno and midjourney-proxy use their own words.
    const error = data.error || data;
    message = error.message || data.description || data.message || message;
    code = error.code || error.type || data.code || null;
    param = error.param || null;
  } catch {
    if (text) message = text.slice(0, 300);
  }
  if (response.status === 401) listeners.forEach((listener) => listener());
  return new ApiError(response.status, message, code, param);
}

/** Send a request; answers the decoded JSON (null for 204), throws ApiError. */
export async function api(method, path, { body, query, signal } = {}) {
  const response = await fetch(url(path, query), {
    method,
    headers: headers(method, body),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path, query, signal) => api("GET", path, { query, signal });

/**
 * POST and read a server-sent event stream; calls onEvent(data, eventName) for each event.
 * Resolves when the stream ends.
 */
export async function stream(path, body, onEvent, { signal, query } = {}) {
  const response = await fetch(url(path, query), {
    method: "POST",
    headers: { ...headers("POST", body), Accept: "text/event-stream" },
    body: JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      let event = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(data.join("\n"), event);
    }
  }
}
