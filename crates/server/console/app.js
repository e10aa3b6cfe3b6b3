// Fulcrum's console: one page over the API, signed in with an API key. Each screen reads the
// API with that key, so a role sees what the API gives it and nothing else. Model output and
// tool results are set as text, never as HTML.
"use strict";

const state = {
  key: sessionStorage.getItem("fulcrum.key"),
  me: null,
  sessionId: null,
  lastContext: null,
  polls: [],
};

// ---- DOM -----------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") element.textContent = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "className") element.className = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function field(labelKey, input) {
  return h("label", {}, t(labelKey), input);
}

function alertBox(text) {
  return h("div", { className: "alert", role: "alert", text });
}

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

// ---- API -----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body) {
  const headers = { Authorization: `Bearer ${state.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, t("error.network", { message: err.message }), "network");
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    let code = null;
    try {
      const error = (await response.json()).error;
      message = error.message;
      code = error.code;
    } catch (_) {
      // Not JSON: the status line says it.
    }
    throw new ApiError(response.status, message, code);
  }
  return response;
}

async function api(method, path, body) {
  return (await request(method, path, body)).json();
}

// Reads a `text/event-stream` response and calls `onEvent` with each JSON event until `[DONE]`.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      onEvent(JSON.parse(data));
    }
  }
}

// ---- Shell: header, navigation, routing ----------------------------------------------------

const SCREENS = [
  { name: "chat", shown: () => true, draw: drawChat },
  { name: "approvals", shown: () => true, draw: drawApprovals },
  { name: "audit", shown: (me) => me.may.read_audit, draw: drawAudit },
  { name: "reports", shown: (me) => me.may.write_reports, draw: drawReports },
  { name: "knowledge", shown: (me) => me.may.manage_knowledge, draw: drawKnowledge },
  { name: "playground", shown: (me) => me.may.chat, draw: drawPlayground },
];

function currentScreen() {
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1];
  return SCREENS.find((screen) => screen.name === name) || SCREENS[0];
}

function stopPolls() {
  for (const id of state.polls) clearInterval(id);
  state.polls = [];
}

function poll(every, work) {
  work();
  state.polls.push(setInterval(work, every));
}

function drawHeader() {
  const lang = document.getElementById("lang");
  lang.textContent = t("lang.switch");
  lang.setAttribute("aria-label", t("lang.switch.label"));
  const nav = document.getElementById("nav");
  const signout = document.getElementById("signout");
  const who = document.getElementById("who");
  nav.replaceChildren();
  if (!state.me) {
    nav.hidden = true;
    signout.hidden = true;
    who.textContent = "";
    return;
  }
  nav.setAttribute("aria-label", t("nav.label"));
  const active = currentScreen().name;
  for (const screen of SCREENS) {
    if (!screen.shown(state.me)) continue;
    const link = h("a", {
      href: `#/${screen.name}`,
      id: `nav-${screen.name}`,
      "aria-current": screen.name === active ? "page" : null,
      text: t(`nav.${screen.name}`),
    });
    if (screen.name === "approvals") link.append(h("span", { id: "queue-count", className: "badge", hidden: true }));
    nav.append(link);
  }
  nav.hidden = false;
  who.textContent = t("who", { user: state.me.user, role: state.me.role });
  signout.textContent = t("signout");
  signout.hidden = false;
}

async function render() {
  stopPolls();
  drawHeader();
  const main = document.getElementById("main");
  if (!state.key) {
    main.replaceChildren(drawSignIn());
    return;
  }
  if (!state.me) {
    try {
      state.me = await api("GET", "/v1/me");
    } catch (err) {
      signOut(err.status === 404 ? t("signin.ungoverned") : t("signin.invalid", { message: err.message }));
      return;
    }
    drawHeader();
  }
  const screen = currentScreen();
  main.replaceChildren();
  if (state.me.approves.length) poll(5000, refreshQueueCount);
  await screen.draw(main);
}

async function refreshQueueCount() {
  const badge = document.getElementById("queue-count");
  if (!badge) return;
  try {
    const queue = await api("GET", "/v1/actions/queue");
    badge.textContent = String(queue.data.length);
    badge.hidden = queue.data.length === 0;
  } catch (_) {
    badge.hidden = true;
  }
}

function signOut(message) {
  state.key = null;
  state.me = null;
  state.sessionId = null;
  sessionStorage.removeItem("fulcrum.key");
  stopPolls();
  drawHeader();
  document.getElementById("main").replaceChildren(drawSignIn(message));
}

// ---- Sign in -------------------------------------------------------------------------------

function drawSignIn(message) {
  const key = h("input", { type: "password", id: "api-key", autocomplete: "off", required: true });
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        state.key = key.value.trim();
        state.me = null;
        sessionStorage.setItem("fulcrum.key", state.key);
        await render();
      },
    },
    field("signin.key", key),
    h("button", { type: "submit", id: "sign-in", text: t("signin.submit") }),
    h("p", { className: "muted", text: t("signin.hint") }),
  );
  const panel = h("section", { className: "panel signin" }, h("h1", { text: t("signin.title") }));
  if (message) panel.append(alertBox(message));
  panel.append(form);
  setTimeout(() => key.focus(), 0);
  return panel;
}

// ---- Time left before an action expires ----------------------------------------------------

function timeLeft(expiresAt) {
  const seconds = Math.max(0, Math.floor((Date.parse(expiresAt) - Date.now()) / 1000));
  if (seconds === 0) return t("confirm.expired");
  return t("time.left", { minutes: Math.floor(seconds / 60), seconds: seconds % 60 });
}

setInterval(() => {
  for (const element of document.querySelectorAll("[data-expires]")) {
    element.textContent = timeLeft(element.dataset.expires);
  }
}, 1000);

// ---- Confirmation cards (chat and approvals) -----------------------------------------------

// `action`: { id, tool, summary, arguments, arguments_sha256, expires_at, user?, role? }.
// `onDecided(decision)` runs after the server answered.
function confirmationCard(action, onDecided) {
  const status = h("p", { className: "muted", role: "status" });
  const approve = h("button", { type: "button", className: "approve", text: t("confirm.approve") });
  const deny = h("button", { type: "button", className: "danger deny", text: t("confirm.deny") });
  const decide = async (verb) => {
    approve.disabled = deny.disabled = true;
    // A card being decided stays on screen while the queue refreshes around it.
    card.dataset.state = "deciding";
    status.textContent = t("confirm.deciding");
    try {
      const body = verb === "approve" ? { arguments_sha256: action.arguments_sha256 } : undefined;
      const decision = await api("POST", `/v1/actions/${encodeURIComponent(action.id)}/${verb}`, body);
      status.textContent = t(`decision.${decision.status}`);
      if (decision.result) status.textContent += ` ${decision.result.output || decision.result.error || ""}`;
      card.dataset.state = decision.status;
      if (onDecided) onDecided(decision);
    } catch (err) {
      status.textContent = t("error.api", { message: err.message });
      delete card.dataset.state;
      approve.disabled = deny.disabled = false;
    }
  };
  approve.addEventListener("click", () => decide("approve"));
  deny.addEventListener("click", () => decide("deny"));
  const card = h(
    "article",
    { className: "card confirm", "data-action": action.id, "aria-label": t("confirm.title") },
    h("h3", { text: `${t("confirm.title")}: ${action.tool}` }),
    h("p", { className: "summary", text: action.summary }),
    action.user ? h("p", { className: "muted", text: t("confirm.requested", { user: action.user, role: action.role }) }) : null,
    h("div", { className: "muted", text: t("chat.arguments") }),
    h("pre", { className: "arguments", text: pretty(action.arguments) }),
    h("div", { className: "muted", text: t("confirm.hash") }),
    h("div", { className: "hash", text: action.arguments_sha256 }),
    h(
      "div",
      { className: "actions" },
      approve,
      deny,
      h("span", { className: "muted", text: `${t("confirm.expires")}: ` }),
      h("span", { className: "expires", "data-expires": action.expires_at, text: timeLeft(action.expires_at) }),
    ),
    status,
  );
  return card;
}

// ---- Chat ----------------------------------------------------------------------------------

function drawChat(main) {
  const list = h("ul", { id: "session-list" });
  const messages = h("div", { className: "messages", id: "messages", "aria-live": "polite" });
  const contextPanel = h("div", { className: "context panel", id: "context-panel", hidden: true });
  const prompt = h("textarea", {
    id: "prompt",
    rows: 2,
    placeholder: t("chat.placeholder"),
    "aria-label": t("chat.prompt"),
  });
  const send = h("button", { type: "submit", id: "send", text: t("chat.send") });
  const contextButton = h("button", {
    type: "button",
    className: "secondary",
    id: "show-context",
    "aria-expanded": "false",
    text: t("chat.context"),
  });
  const view = { list, messages, contextPanel, prompt, send, cards: new Map() };
  contextButton.addEventListener("click", () => {
    const open = contextPanel.hidden;
    contextPanel.hidden = !open;
    contextButton.setAttribute("aria-expanded", String(open));
    drawContext(contextPanel);
  });
  const composer = h(
    "form",
    {
      className: "composer",
      onsubmit: (event) => {
        event.preventDefault();
        sendMessage(view);
      },
    },
    prompt,
    send,
    contextButton,
  );
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendMessage(view);
    }
  });
  const newSession = h("button", {
    type: "button",
    id: "new-session",
    text: t("chat.new"),
    onclick: async () => {
      try {
        const session = await api("POST", "/v1/agent/sessions");
        state.sessionId = session.id;
        await loadSessions(view);
        await openSession(view, session.id);
        prompt.focus();
      } catch (err) {
        messages.replaceChildren(alertBox(t("error.api", { message: err.message })));
      }
    },
  });
  main.append(
    h(
      "div",
      { className: "chat" },
      h("aside", { className: "sessions panel" }, h("h2", { text: t("chat.sessions") }), newSession, list),
      h("section", { className: "conversation" }, messages, contextPanel, composer),
    ),
  );
  loadSessions(view).then(() => {
    if (state.sessionId) openSession(view, state.sessionId);
    else messages.replaceChildren(h("p", { className: "muted", text: t("chat.pick") }));
    prompt.focus();
  });
}

async function loadSessions(view) {
  try {
    const sessions = (await api("GET", "/v1/agent/sessions")).data;
    view.list.replaceChildren();
    if (!sessions.length) view.list.append(h("li", { className: "muted", text: t("chat.none") }));
    for (const session of sessions) {
      view.list.append(
        h(
          "li",
          {},
          h("button", {
            type: "button",
            "data-session": session.id,
            "aria-current": session.id === state.sessionId ? "true" : null,
            text: new Date(session.created_at).toLocaleString(),
            onclick: () => openSession(view, session.id),
          }),
        ),
      );
    }
  } catch (err) {
    view.list.replaceChildren(h("li", {}, alertBox(t("error.api", { message: err.message }))));
  }
}

async function openSession(view, id) {
  state.sessionId = id;
  for (const button of view.list.querySelectorAll("button[data-session]")) {
    button.setAttribute("aria-current", button.dataset.session === id ? "true" : "false");
  }
  view.cards = new Map();
  view.messages.replaceChildren();
  try {
    const stored = await api("GET", `/v1/agent/sessions/${encodeURIComponent(id)}/messages`);
    for (const message of stored.messages) {
      if (message.role === "user") addMessage(view, "user", message.content);
      else if (message.role === "assistant") {
        if (message.content) addMessage(view, "assistant", message.content);
        for (const call of message.tool_calls) {
          let args = call.arguments;
          try {
            args = JSON.parse(call.arguments);
          } catch (_) {
            // Shown as the text it is.
          }
          addToolCard(view, { id: call.id, name: call.name, arguments: args });
        }
      } else if (message.role === "tool") {
        setToolResult(view, { id: message.tool_call_id, ok: true, output: message.content || "" });
      }
    }
    if (stored.pending_actions.length) {
      const own = (await api("GET", "/v1/actions")).data;
      for (const action of own.filter((a) => stored.pending_actions.includes(a.id))) {
        addConfirmation(view, action);
      }
    }
  } catch (err) {
    view.messages.append(alertBox(t("error.api", { message: err.message })));
  }
}

function addMessage(view, role, text, passages) {
  const body = h("div", { className: "text" });
  setCitedText(body, text || "", passages);
  const message = h(
    "div",
    { className: `message ${role}` },
    h("div", { className: "who-said", text: t(role === "user" ? "chat.you" : "chat.assistant") }),
    body,
  );
  if (passages && passages.length) {
    message.append(
      h("div", { className: "muted", text: t("chat.sources") }),
      h(
        "ol",
        { className: "sources" },
        passages.map((p) =>
          h("li", {
            "data-passage": p.id,
            className: text.includes(`[${p.id}]`) ? "cited" : null,
            title: p.text,
            text: `[${p.id}] ${p.source}${p.section ? ` — ${p.section}` : ""}`,
          }),
        ),
      ),
    );
  }
  view.messages.append(message);
  message.scrollIntoView({ block: "end" });
  return body;
}

// Sets `text` into `element`, with each `[S1]` it cites shown as a marker naming its source.
function setCitedText(element, text, passages) {
  element.replaceChildren();
  const byId = new Map((passages || []).map((p) => [p.id, p]));
  let last = 0;
  for (const match of text.matchAll(/\[(S\d+)\]/g)) {
    const passage = byId.get(match[1]);
    if (!passage) continue;
    element.append(text.slice(last, match.index));
    element.append(h("span", { className: "cite", title: passage.source, text: match[0] }));
    last = match.index + match[0].length;
  }
  element.append(text.slice(last));
}

function addToolCard(view, call) {
  const result = h("pre", { className: "result", hidden: true });
  const card = h(
    "article",
    { className: "card tool", "data-call": call.id, "data-tool": call.name },
    h("h3", { text: `${t("chat.tool")}: ${call.name}` }),
    h("div", { className: "muted", text: t("chat.arguments") }),
    h("pre", { className: "arguments", text: typeof call.arguments === "string" ? call.arguments : pretty(call.arguments) }),
    h("div", { className: "muted result-label", hidden: true, text: t("chat.result") }),
    result,
  );
  view.cards.set(call.id, { card, call });
  view.messages.append(card);
  return card;
}

function setToolResult(view, event) {
  const entry = view.cards.get(event.id);
  if (!entry) return;
  const { card } = entry;
  card.querySelector(".result-label").hidden = false;
  card.querySelector(".result-label").textContent = event.ok ? t("chat.result") : t("chat.denied");
  const result = card.querySelector(".result");
  result.hidden = false;
  result.textContent = event.output;
  if (!event.ok) card.classList.add("denied");
}

function addConfirmation(view, action) {
  const card = confirmationCard(action, (decision) => afterDecision(view, decision));
  view.messages.append(card);
  card.scrollIntoView({ block: "end" });
  return card;
}

function afterDecision(view, decision) {
  if (decision.status === "executed" && decision.result) {
    const call = [...view.cards.values()].find((entry) => entry.call.name === decision.action.tool);
    if (call) {
      setToolResult(view, {
        id: call.call.id,
        ok: decision.result.ok,
        output: decision.result.output || decision.result.error || "",
      });
    }
  }
  const turn = decision.turn;
  if (!turn) return;
  if (turn.context) state.lastContext = turn.context;
  if (turn.answer) addMessage(view, "assistant", turn.answer);
  for (const action of turn.pending) addConfirmation(view, action);
  focusPendingApproval(view);
}

function focusPendingApproval(view) {
  const waiting = [...view.messages.querySelectorAll(".card.confirm:not([data-state]) button.approve")];
  if (waiting.length) waiting[waiting.length - 1].focus();
  else view.prompt.focus();
}

async function sendMessage(view) {
  const content = view.prompt.value.trim();
  if (!content || view.send.disabled) return;
  if (!state.sessionId) {
    try {
      const session = await api("POST", "/v1/agent/sessions");
      state.sessionId = session.id;
      await loadSessions(view);
      view.messages.replaceChildren();
      view.cards = new Map();
    } catch (err) {
      view.messages.append(alertBox(t("error.api", { message: err.message })));
      return;
    }
  }
  view.prompt.value = "";
  view.send.disabled = true;
  view.send.textContent = t("chat.working");
  addMessage(view, "user", content);
  let bubble = null;
  let streamed = "";
  let passages = [];
  try {
    const response = await request("POST", `/v1/agent/sessions/${encodeURIComponent(state.sessionId)}/messages`, {
      content,
      stream: true,
    });
    await readEvents(response, (event) => {
      switch (event.type) {
        case "token":
          if (!bubble) {
            bubble = addMessage(view, "assistant", "");
            streamed = "";
          }
          streamed += event.text;
          bubble.textContent = streamed;
          break;
        case "tool_call":
          bubble = null;
          addToolCard(view, event);
          break;
        case "tool_result":
          setToolResult(view, event);
          break;
        case "confirmation_required": {
          const entry = view.cards.get(event.call_id);
          addConfirmation(view, {
            id: event.action_id,
            tool: event.tool,
            summary: event.summary,
            arguments: entry ? entry.call.arguments : {},
            arguments_sha256: event.arguments_sha256,
            expires_at: event.expires_at,
          });
          break;
        }
        case "passages":
          passages = event.passages;
          break;
        case "context":
          state.lastContext = event.tokens;
          if (!view.contextPanel.hidden) drawContext(view.contextPanel);
          break;
        case "answer":
          if (bubble) bubble.closest(".message").remove();
          bubble = null;
          addMessage(view, "assistant", event.text, passages);
          break;
        case "error":
          view.messages.append(h("div", { className: "message error", role: "alert", text: event.message }));
          break;
        default:
          break;
      }
    });
  } catch (err) {
    view.messages.append(alertBox(t("error.api", { message: err.message })));
  } finally {
    view.send.disabled = false;
    view.send.textContent = t("chat.send");
    focusPendingApproval(view);
  }
}

function drawContext(panel) {
  const tokens = state.lastContext;
  if (!tokens) {
    panel.replaceChildren(h("p", { className: "muted", text: t("chat.context.none") }));
    return;
  }
  const rows = ["system", "passages", "memory", "recent", "current", "total", "budget"].map((layer) =>
    h("tr", { "data-layer": layer }, h("th", { text: t(`layer.${layer}`) }), h("td", { text: String(tokens[layer]) })),
  );
  panel.replaceChildren(h("h2", { text: t("chat.context.title") }), h("table", {}, h("tbody", {}, rows)));
}

// ---- Approvals -----------------------------------------------------------------------------

function drawApprovals(main) {
  const queue = h("div", { className: "queue", id: "approval-queue" });
  const own = h("div", { className: "queue", id: "own-requests" });
  const updated = h("p", { className: "muted", role: "status" });
  main.append(
    h("section", { className: "panel" }, h("h1", { text: t("approvals.queue") }), updated, queue),
    h("section", { className: "panel" }, h("h2", { text: t("approvals.own") }), own),
  );
  // Cards already shown stay as they are (a focused button keeps its focus); new ones are
  // added and gone ones removed.
  const sync = (container, actions) => {
    const ids = new Set(actions.map((a) => a.id));
    for (const card of [...container.querySelectorAll("[data-action]")]) {
      if (!ids.has(card.dataset.action) && !card.dataset.state) card.remove();
    }
    for (const action of actions) {
      if (!container.querySelector(`[data-action="${CSS.escape(action.id)}"]`)) {
        container.append(confirmationCard(action, () => refreshQueueCount()));
      }
    }
    const empty = container.querySelector(".empty");
    if (!container.querySelector("[data-action]")) {
      if (!empty) container.append(h("p", { className: "muted empty", text: t("approvals.empty") }));
    } else if (empty) empty.remove();
  };
  poll(3000, async () => {
    try {
      const [waiting, mine] = await Promise.all([api("GET", "/v1/actions/queue"), api("GET", "/v1/actions")]);
      sync(queue, waiting.data);
      sync(own, mine.data);
      updated.textContent = t("approvals.updated", { time: new Date().toLocaleTimeString() });
    } catch (err) {
      updated.textContent = t("error.api", { message: err.message });
    }
  });
}

// ---- Audit ---------------------------------------------------------------------------------

const AUDIT_FILTERS = ["user", "kind", "tool", "session", "since", "until"];

function summarizeRow(row) {
  const data = row.data || {};
  const parts = [];
  for (const key of ["tool", "decision", "reason", "ok", "event", "refused", "model", "collection", "source"]) {
    if (data[key] !== undefined && typeof data[key] !== "object") parts.push(`${key}: ${data[key]}`);
  }
  const text = parts.join(" · ");
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

async function drawAudit(main) {
  const banner = h("div", { id: "audit-verify" });
  const table = h("div", { className: "scroll" });
  const detail = h("section", { className: "panel", id: "audit-detail", hidden: true, "aria-label": t("audit.col.detail") });
  const inputs = {};
  for (const name of AUDIT_FILTERS) {
    inputs[name] = h("input", {
      id: `audit-${name}`,
      name,
      type: name === "since" || name === "until" ? "date" : "text",
    });
  }
  let after = 0;
  const pageStarts = [];
  const load = async () => {
    const query = new URLSearchParams({ after: String(after), limit: "50" });
    for (const name of AUDIT_FILTERS) if (inputs[name].value.trim()) query.set(name, inputs[name].value.trim());
    try {
      const rows = (await api("GET", `/v1/audit?${query}`)).data;
      drawAuditRows(table, rows, detail);
      next.disabled = rows.length < 50;
      next.onclick = () => {
        pageStarts.push(after);
        after = rows[rows.length - 1].seq;
        load();
      };
    } catch (err) {
      table.replaceChildren(alertBox(t("audit.refused", { message: err.message })));
      next.disabled = true;
    }
  };
  const next = h("button", { type: "button", className: "secondary", id: "audit-next", text: t("audit.next") });
  const first = h("button", {
    type: "button",
    className: "secondary",
    text: t("audit.first"),
    onclick: () => {
      after = 0;
      load();
    },
  });
  const form = h(
    "form",
    {
      className: "row",
      id: "audit-filters",
      onsubmit: (event) => {
        event.preventDefault();
        after = 0;
        load();
      },
    },
    AUDIT_FILTERS.map((name) => field(`audit.filter.${name}`, inputs[name])),
    h("button", { type: "submit", text: t("audit.filter.apply") }),
    h("button", {
      type: "button",
      className: "secondary",
      text: t("audit.filter.clear"),
      onclick: () => {
        for (const name of AUDIT_FILTERS) inputs[name].value = "";
        after = 0;
        load();
      },
    }),
  );
  main.append(
    h("section", { className: "panel" }, h("h1", { text: t("audit.title") }), banner, form),
    h("section", { className: "panel" }, table, h("div", { className: "row" }, first, next)),
    detail,
  );
  try {
    const verdict = await api("GET", "/v1/audit/verify");
    if (verdict.ok) {
      banner.replaceChildren(h("div", { className: "notice", role: "status", text: t("audit.verify.ok", { rows: verdict.rows, seq: verdict.head_seq }) }));
    } else {
      const lines = [];
      if (verdict.first_bad) lines.push(t("audit.verify.bad", { seq: verdict.first_bad.seq, reason: verdict.first_bad.reason }));
      if (verdict.anchor_problem) lines.push(t("audit.verify.anchor", { problem: verdict.anchor_problem }));
      banner.replaceChildren(alertBox(lines.join(" ")));
    }
  } catch (err) {
    banner.replaceChildren(alertBox(t("audit.refused", { message: err.message })));
    form.hidden = true;
  }
  await load();
}

function drawAuditRows(container, rows, detail) {
  if (!rows.length) {
    container.replaceChildren(h("p", { className: "muted", text: t("audit.empty") }));
    return;
  }
  const head = h(
    "tr",
    {},
    ["seq", "at", "user", "kind", "detail"].map((column) => h("th", { scope: "col", text: t(`audit.col.${column}`) })),
  );
  const body = rows.map((row) =>
    h(
      "tr",
      { "data-seq": row.seq, "data-kind": row.kind },
      h(
        "td",
        {},
        h("button", {
          type: "button",
          text: `#${row.seq}`,
          onclick: () => {
            detail.hidden = false;
            detail.replaceChildren(h("h2", { text: t("audit.row", { seq: row.seq }) }), h("pre", { text: pretty(row) }));
            detail.scrollIntoView({ block: "nearest" });
          },
        }),
      ),
      h("td", { text: new Date(row.at).toLocaleString() }),
      h("td", { text: row.user || "" }),
      h("td", { text: row.kind }),
      h("td", { text: summarizeRow(row) }),
    ),
  );
  container.replaceChildren(h("table", { className: "audit-table" }, h("thead", {}, head), h("tbody", {}, body)));
}

// ---- Reports -------------------------------------------------------------------------------

function drawReports(main) {
  const month = h("input", { type: "month", id: "report-month", required: true });
  const formats = ["pdf", "docx", "md"].map((format) =>
    h("label", { className: "inline" }, h("input", { type: "checkbox", value: format, checked: true }), format.toUpperCase()),
  );
  const progress = h("ol", { className: "progress", id: "report-progress", "aria-live": "polite" });
  const result = h("div", { id: "report-result" });
  const generate = h("button", { type: "submit", id: "generate-report", text: t("reports.generate") });
  const form = h(
    "form",
    {
      className: "row",
      onsubmit: async (event) => {
        event.preventDefault();
        generate.disabled = true;
        progress.replaceChildren();
        result.replaceChildren();
        const chosen = formats.map((label) => label.querySelector("input")).filter((box) => box.checked).map((box) => box.value);
        try {
          const response = await request("POST", "/v1/reports/monthly", { month: month.value, formats: chosen, stream: true });
          await readEvents(response, (event) => {
            if (event.type === "stage") {
              progress.append(
                h("li", { className: "done", "data-stage": event.stage, text: t("reports.stage", { stage: t(`stage.${event.stage}`), ms: Math.round(event.ms) }) }),
              );
            } else if (event.type === "section") {
              progress.append(h("li", { className: "done", "data-section": event.index, text: t("reports.section", event) }));
            } else if (event.type === "report") {
              drawReport(result, event.report);
            } else if (event.type === "error") {
              result.replaceChildren(alertBox(t("error.api", { message: event.error.message })));
            }
          });
        } catch (err) {
          result.replaceChildren(alertBox(t("error.api", { message: err.message })));
        } finally {
          generate.disabled = false;
        }
      },
    },
    field("reports.month", month),
    h("fieldset", { className: "row" }, h("legend", { text: t("reports.formats") }), formats),
    generate,
  );
  main.append(
    h("section", { className: "panel" }, h("h1", { text: t("reports.title") }), form),
    h("section", { className: "panel" }, h("h2", { text: t("reports.progress") }), progress, result),
  );
}

function drawReport(container, report) {
  const downloads = report.files.map((file) => {
    const bytes = Uint8Array.from(atob(file.content_base64), (c) => c.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([bytes], { type: file.media_type }));
    return h("a", { href: url, download: file.name, className: "download", text: t("reports.download", { name: file.name }) });
  });
  const sections = report.sections.map((section) =>
    h(
      "article",
      { className: "card", "data-review": section.needs_review ? "true" : "false" },
      h("h3", {}, section.title, section.needs_review ? h("span", { className: "flag", text: t("reports.review") }) : null),
      h("p", { className: "text", text: section.text }),
      section.unsupported_numbers.length ? h("p", { className: "muted", text: section.unsupported_numbers.join(", ") }) : null,
    ),
  );
  container.replaceChildren(
    h("h2", { text: report.title }),
    h("div", { className: "downloads" }, downloads),
    h("h2", { text: t("reports.sections") }),
    h("div", { className: "queue" }, sections),
  );
}

// ---- Knowledge -----------------------------------------------------------------------------

async function drawKnowledge(main) {
  const table = h("div", { className: "scroll", id: "collections" });
  const names = h("datalist", { id: "collection-names" });
  const collection = h("input", { id: "upload-collection", list: "collection-names", required: true });
  const roles = h("input", { id: "upload-roles" });
  const file = h("input", { id: "upload-file", type: "file", accept: ".md,.markdown,.txt,.docx,.pdf", required: true });
  const uploadStatus = h("div", { role: "status", id: "upload-status" });
  const upload = h(
    "form",
    {
      className: "row",
      onsubmit: async (event) => {
        event.preventDefault();
        const chosen = file.files[0];
        if (!chosen) return;
        const bytes = new Uint8Array(await chosen.arrayBuffer());
        let binary = "";
        for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        const body = { filename: chosen.name, content_base64: btoa(binary) };
        const roleList = roles.value.split(",").map((r) => r.trim()).filter(Boolean);
        if (roleList.length) body.roles = roleList;
        uploadStatus.replaceChildren(h("p", { className: "muted", text: t("chat.working") }));
        try {
          const added = await api("POST", `/v1/knowledge/collections/${encodeURIComponent(collection.value.trim())}/documents`, body);
          uploadStatus.replaceChildren(h("div", { className: "notice", text: t("knowledge.added", added) }));
          await loadCollections();
        } catch (err) {
          uploadStatus.replaceChildren(alertBox(t("error.api", { message: err.message })));
        }
      },
    },
    field("knowledge.collection", collection),
    field("knowledge.roles", roles),
    field("knowledge.file", file),
    h("button", { type: "submit", id: "upload", text: t("knowledge.add") }),
    names,
  );
  const searchIn = h("select", { id: "search-collection" });
  const query = h("input", { id: "search-query", type: "search", required: true });
  const hits = h("ol", { id: "search-hits" });
  const search = h(
    "form",
    {
      className: "row",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const found = await api(
            "GET",
            `/v1/knowledge/collections/${encodeURIComponent(searchIn.value)}/search?${new URLSearchParams({ query: query.value, limit: "5" })}`,
          );
          hits.replaceChildren();
          if (!found.data.length) hits.append(h("li", { className: "muted", text: t("knowledge.nohits") }));
          for (const hit of found.data) {
            hits.append(h("li", {}, h("strong", { text: `${hit.source} — ${hit.heading} (${hit.score.toFixed(3)})` }), h("p", { text: hit.text })));
          }
        } catch (err) {
          hits.replaceChildren(h("li", {}, alertBox(t("error.api", { message: err.message }))));
        }
      },
    },
    field("knowledge.collection", searchIn),
    field("knowledge.query", query),
    h("button", { type: "submit", id: "search", text: t("knowledge.find") }),
  );
  const loadCollections = async () => {
    try {
      const collections = (await api("GET", "/v1/knowledge/collections")).data;
      const head = h("tr", {}, ["name", "roles", "documents", "chunks", "version"].map((c) => h("th", { scope: "col", text: t(`knowledge.col.${c}`) })));
      const rows = collections.map((c) =>
        h(
          "tr",
          { "data-collection": c.name },
          h("td", { text: c.name }),
          h("td", { text: c.roles.length ? c.roles.join(", ") : t("knowledge.allroles") }),
          h("td", { text: String(c.documents) }),
          h("td", { text: String(c.chunks) }),
          h("td", { text: String(c.version) }),
        ),
      );
      table.replaceChildren(h("table", {}, h("thead", {}, head), h("tbody", {}, rows)));
      names.replaceChildren(...collections.map((c) => h("option", { value: c.name })));
      const selected = searchIn.value;
      searchIn.replaceChildren(...collections.map((c) => h("option", { value: c.name, text: c.name })));
      if (selected) searchIn.value = selected;
    } catch (err) {
      table.replaceChildren(alertBox(t("knowledge.refused", { message: err.message })));
    }
  };
  main.append(
    h("section", { className: "panel" }, h("h1", { text: t("knowledge.title") }), table),
    h("section", { className: "panel" }, h("h2", { text: t("knowledge.upload") }), upload, uploadStatus),
    h("section", { className: "panel" }, h("h2", { text: t("knowledge.search") }), search, hits),
  );
  await loadCollections();
}

// ---- Playground ----------------------------------------------------------------------------

async function drawPlayground(main) {
  let model = "default";
  try {
    model = (await api("GET", "/v1/models")).data[0].id;
  } catch (_) {
    // The server names the model itself when it is unknown here.
  }
  const example = {
    model,
    messages: [{ role: "user", content: "What is the weather in Hangzhou today?" }],
    tools: [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "The current weather of a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      },
    ],
    tool_choice: "auto",
    stream: false,
  };
  const body = h("textarea", { id: "playground-body", rows: 18, spellcheck: "false", "aria-label": t("playground.body") });
  body.value = pretty(example);
  const output = h("pre", { id: "playground-response", "aria-live": "polite" });
  const send = h("button", { type: "submit", id: "playground-send", text: t("playground.send") });
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        let parsed;
        try {
          parsed = JSON.parse(body.value);
        } catch (err) {
          output.textContent = t("playground.badjson", { message: err.message });
          return;
        }
        send.disabled = true;
        output.textContent = t("chat.working");
        try {
          const response = await request("POST", "/v1/chat/completions", parsed);
          if (parsed.stream) {
            const chunks = [];
            await readEvents(response, (chunk) => {
              chunks.push(chunk);
              output.textContent = chunks.map((c) => JSON.stringify(c)).join("\n");
            });
          } else {
            output.textContent = pretty(await response.json());
          }
        } catch (err) {
          output.textContent = t("error.api", { message: err.message });
        } finally {
          send.disabled = false;
        }
      },
    },
    h("label", {}, t("playground.body"), body),
    send,
  );
  main.append(
    h("section", { className: "panel" }, h("h1", { text: t("playground.title") }), form),
    h("section", { className: "panel" }, h("h2", { text: t("playground.response") }), output),
  );
}

// ---- Start ---------------------------------------------------------------------------------

document.getElementById("lang").addEventListener("click", () => {
  setLanguage(language === "en" ? "zh" : "en");
  render();
});
document.getElementById("signout").addEventListener("click", () => signOut());
window.addEventListener("hashchange", () => render());
setLanguage(language);
render();
