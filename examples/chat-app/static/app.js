"use strict";
// The chat page. Everything the model or the code produced is inserted as text (textContent), except the
// final answer, which the server rendered from Markdown and sanitised.

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const maxUpload = Number(document.querySelector('meta[name="max-upload"]').content);
// The code cell runs the pool's language: run_python, run_javascript, or run_shell in a Shell pool.
const codeTool = document.querySelector('meta[name="code-tool"]').content;
const codeLanguage = document.querySelector('meta[name="code-language"]').content;
const $ = (id) => document.getElementById(id);

// The conversation this page shows: in the address (#c=ID) so a reload, a bookmark or a second tab keeps it.
// Anything but an id (32 hex digits) is ignored: the server then picks the most recently used one.
const conversationId = (id) => (/^[0-9a-f]{32}$/.test(id || "") ? id : "");
let current = conversationId(new URLSearchParams(location.hash.slice(1)).get("c"));
// The conversation whose answer is being written, for Stop (the page may show another by then).
let turnConversation = "";
function setCurrent(id) {
  current = conversationId(id);
  history.replaceState(null, "", current ? "#c=" + current : location.pathname);
  const query = current ? "?conversation=" + current : "";
  $("export-notebook").href = "/api/conversation.ipynb" + query;
  $("export-markdown").href = "/api/conversation.md" + query;
}
function withConversation(headers) {
  if (current) headers["X-Conversation"] = current;
  return headers;
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

async function api(method, url, body) {
  const options = { method, headers: withConversation({ "X-CSRF-Token": csrf }), credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  if (!response.ok) throw new Error(await errorText(response));
  return response.status === 204 ? null : response.json();
}

async function errorText(response) {
  try { return (await response.json()).error || response.statusText; } catch (_) { return response.statusText; }
}

function humanSize(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / (1024 * 1024)).toFixed(1) + " MB";
}

function scrollDown() { $("messages").scrollTop = $("messages").scrollHeight; }

// ---- messages ----------------------------------------------------------------------------------------------
function addUser(text) {
  const message = el("div", { class: "msg user" });
  message.appendChild(el("div", { class: "bubble" }, text));
  $("messages").appendChild(message);
  scrollDown();
}

function addError(root, message) {
  root.appendChild(el("p", { class: "error" }, message));
  scrollDown();
}

const TOOL_TITLES = {
  run_python: ["Running Python…", "Ran Python", "Python failed"],
  run_javascript: ["Running JavaScript…", "Ran JavaScript", "JavaScript failed"],
  run_shell: ["Running a command…", "Ran a command", "The command failed"],
  list_files: ["Listing files…", "Listed files", "Listing files failed"],
  read_file: ["Reading a file…", "Read a file", "Reading the file failed"],
  send_file_to_user: ["Sharing a file…", "Shared a file", "Sharing the file failed"],
  reset_session: ["Resetting the session…", "Reset the session", "The reset failed"],
};

function titles(name) {
  return TOOL_TITLES[name] || ["Using " + name + "…", "Used " + name, name + " failed"];
}

function toolCall(container, event, replacing) {
  const step = el("details", { class: event.cell ? "tool-step running cell" : "tool-step running", open: "" });
  const summary = el("summary", {});
  summary.appendChild(el("span", { class: "title" }, event.cell ? "Ran " + codeLanguage + " (code cell)" : titles(event.name)[0]));
  step.appendChild(summary);
  if (event.as_text) {
    step.appendChild(el("p", { class: "note" }, "The model wrote this call as text instead of calling the tool; it was run as a call."));
  }
  if (event.code) step.appendChild(el("pre", { class: "code" }, event.code));
  else if (event.args) step.appendChild(el("pre", { class: "args" }, JSON.stringify(event.args, null, 2)));
  if (replacing) replacing.replaceWith(step);
  else container.appendChild(step);
  scrollDown();
  return step;
}

function writingCode(container, event) {
  const label = !event.name || event.name === codeTool ? "Writing code…" : "Preparing " + event.name + "…";
  const step = el("div", { class: "tool-step writing" }, label);
  container.appendChild(step);
  scrollDown();
  return step;
}

function section(step, label, text, cls) {
  step.appendChild(el("div", { class: "label" }, label));
  step.appendChild(el("pre", { class: cls || "output" }, text));
}

// What really happened: ran, failed (it ran and failed), rejected (nothing ran: unusable arguments), or
// repeated (nothing ran: the same code as the step that just failed).
function toolResult(step, event) {
  const outcome = event.outcome || (event.is_error ? "failed" : "ran");
  step.classList.remove("running");
  const notRun = outcome === "rejected" || outcome === "repeated";
  step.classList.add(outcome === "ran" ? "ok" : notRun ? "rejected" : "failed");
  const title = step.querySelector("summary .title");
  if (title && !step.classList.contains("cell")) {
    const [, ran, failed] = titles(event.name);
    title.textContent = outcome === "ran" ? ran
      : outcome === "rejected" ? "Not run: the model's arguments were unusable"
      : outcome === "repeated" ? "Not run: same code as the step that failed"
      : failed;
  } else if (title && outcome !== "ran") {
    title.textContent = codeLanguage + " failed (code cell)";
  }
  const report = event.report;
  if (report && typeof report === "object" && "status" in report) {
    if (report.exit_code !== undefined && report.exit_code !== null) section(step, "exit code", String(report.exit_code));
    if (report.stdout) section(step, "stdout", report.stdout);
    if (report.stderr) section(step, "stderr", report.stderr, "output stderr");
    if (report.result !== undefined && report.result !== null) {
      section(step, "result", typeof report.result === "string" ? report.result : JSON.stringify(report.result));
    }
    for (const note of report.notes || []) step.appendChild(el("p", { class: "note" }, note));
    for (const f of report.files_changed || []) {
      step.appendChild(el("p", { class: "file-change" }, f.change + " file: " + f.path + " " + humanSize(f.size)));
    }
  } else if (event.text) {
    const ok = outcome === "ran";
    section(step, ok ? "output" : "what the model was told", event.text, ok ? "output" : "output stderr");
  }
  for (const src of event.images || []) {
    if (typeof src === "string" && src.startsWith("data:image/")) {
      const img = el("img", { class: "chart", alt: "Chart produced by the code" });
      img.src = src;
      step.appendChild(img);
    }
  }
  scrollDown();
}

function artifactNote(container, event) {
  const note = el("p", { class: "artifact-note" }, "The agent shared " + event.path + (event.description ? ": " + event.description : "") + " ");
  const link = el("a", { href: downloadUrl(event.path), download: event.path.split("/").pop() }, "Download");
  note.appendChild(link);
  container.appendChild(note);
}

function notice(container, message, cls) {
  container.appendChild(el("p", { class: cls || "notice" }, message));
  scrollDown();
}

// One assistant turn on the page: text and steps in the order they happen; the answer replaces the text
// that streamed last.
function turnView(root) {
  let bubble = null;
  let text = "";
  let writing = null;
  const steps = new Map();
  let lastStep = null;
  const seal = () => {
    if (bubble && !text) bubble.remove();
    if (bubble) bubble.classList.remove("streaming");
    bubble = null;
    text = "";
  };
  const dropWriting = () => { if (writing) { writing.remove(); writing = null; } };
  return {
    handle(event) {
      switch (event.type) {
        case "text":
          if (!bubble) { bubble = el("div", { class: "bubble streaming" }); root.appendChild(bubble); }
          text += event.delta;
          bubble.textContent = text;
          scrollDown();
          break;
        case "text_withdrawn":
          if (bubble) bubble.remove();
          bubble = null;
          text = "";
          break;
        case "writing_code":
          seal();
          if (!writing) writing = writingCode(root, event);
          break;
        case "tool_call":
          seal();
          lastStep = toolCall(root, event, writing);
          writing = null;
          steps.set(String(event.id), lastStep);
          break;
        case "tool_result":
          toolResult(steps.get(String(event.id)) || lastStep || toolCall(root, event), event);
          break;
        case "artifact":
          artifactNote(root, event);
          break;
        case "notice":
          notice(root, event.message);
          break;
        case "files":
          refreshFiles();
          break;
        case "done":
          dropWriting();
          if (!bubble) { bubble = el("div", { class: "bubble" }); root.appendChild(bubble); }
          bubble.classList.remove("streaming");
          bubble.innerHTML = event.html; // rendered and sanitised on the server
          bubble = null;
          text = "";
          scrollDown();
          break;
        case "error":
          dropWriting();
          seal();
          notice(root, event.message, "error");
          break;
        case "stopped":
          dropWriting();
          seal();
          notice(root, event.message, "stopped");
          break;
        case "narration": { // text that was not the answer (a reload's log)
          seal();
          root.appendChild(el("div", { class: "bubble" }, event.text));
          break;
        }
        case "interrupted": // the app stopped while this answer was written
          dropWriting();
          seal();
          notice(root, event.message, "interrupted");
          break;
        case "assistant": { // a reload's log
          const answer = el("div", { class: "bubble" });
          answer.innerHTML = event.html; // rendered and sanitised on the server
          root.appendChild(answer);
          break;
        }
      }
    },
  };
}

// ---- chat --------------------------------------------------------------------------------------------------
async function sendChat(message) {
  addUser(message);
  const root = el("div", { class: "msg assistant" });
  $("messages").appendChild(root);
  const view = turnView(root);
  const waiting = el("div", { class: "bubble streaming thinking" });
  root.appendChild(waiting);
  const handle = (event) => { waiting.remove(); view.handle(event); };
  const response = await fetch("/api/chat", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "X-Conversation": turnConversation },
    body: JSON.stringify({ message }),
  });
  if (!response.ok) {
    waiting.remove();
    notice(root, await errorText(response), "error");
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data) handle(JSON.parse(data));
    }
  }
  waiting.remove();
  refreshFiles();
  refreshConversations(); // the first message names the conversation
}

// ---- code cell ---------------------------------------------------------------------------------------------
async function runCell(code) {
  const container = el("div", { class: "msg cell" });
  $("messages").appendChild(container);
  const step = toolCall(container, { name: codeTool, code, cell: true });
  try {
    const result = await api("POST", "/api/run", { code });
    if (result.notice) notice(container, result.notice); // the session had expired: its files are gone
    toolResult(step, result);
  } catch (e) {
    addError(container, e.message);
  }
  refreshFiles();
}

// ---- history -----------------------------------------------------------------------------------------------
async function loadHistory() {
  const { events, conversation, running } = await api("GET", "/api/history");
  if (conversation && conversation.id !== current) setCurrent(conversation.id);
  let view = null;
  for (const event of events) {
    if (event.type === "user") { addUser(event.text); view = null; continue; }
    if (!view) {
      const root = el("div", { class: event.cell ? "msg cell" : "msg assistant" });
      $("messages").appendChild(root);
      view = turnView(root);
    }
    view.handle(event);
    if (event.type === "assistant" || (event.cell && event.type === "tool_result")) view = null;
  }
  if (running) notice($("messages"), "An answer is still being written in this conversation; reload to see it.", "stopped");
}

// ---- conversations -----------------------------------------------------------------------------------------
async function openConversation(id) {
  setCurrent(id);
  $("messages").replaceChildren();
  $("upload-status").replaceChildren();
  try {
    await loadHistory();
  } catch (e) {
    // A conversation that is gone (deleted elsewhere, or a stale link): show the most recent one instead.
    if (current) { setCurrent(""); return openConversation(""); }
    addError($("messages"), e.message);
  }
  refreshFiles();
  refreshConversations();
}

function renameForm(item, c) {
  const form = el("form", { class: "rename" });
  const input = el("input", { type: "text", maxlength: "200", value: c.title, "aria-label": "New title" });
  form.appendChild(input);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await api("PATCH", "/api/conversations/" + c.id, { title: input.value }); } catch (err) { addError($("messages"), err.message); }
    refreshConversations();
  });
  item.replaceChildren(form);
  input.focus();
  input.select();
}

async function refreshConversations() {
  let list = [];
  try { list = (await api("GET", "/api/conversations")).conversations; } catch (e) { return; }
  const ul = $("conversation-list");
  ul.replaceChildren();
  for (const c of list) {
    const item = el("li", { class: c.id === current ? "current" : "", "data-id": c.id });
    const open = el("button", { type: "button", class: "open", title: c.updated ? new Date(c.updated).toLocaleString() : "" }, c.title);
    open.addEventListener("click", () => openConversation(c.id));
    const rename = el("button", { type: "button", class: "rename", title: "Rename" }, "Rename");
    rename.addEventListener("click", () => renameForm(item, c));
    const remove = el("button", { type: "button", class: "delete", title: "Delete this conversation, its session and its files" }, "Delete");
    remove.addEventListener("click", async () => {
      if (!remove.classList.contains("confirm")) { remove.classList.add("confirm"); remove.textContent = "Really delete?"; return; }
      try { await api("DELETE", "/api/conversations/" + c.id); } catch (e) { addError($("messages"), e.message); return; }
      if (c.id === current) await openConversation(""); else refreshConversations();
    });
    item.append(open, rename, remove);
    ul.appendChild(item);
  }
}

// ---- files -------------------------------------------------------------------------------------------------
function downloadUrl(path) {
  return "/api/files/download?path=" + encodeURIComponent(path) + (current ? "&conversation=" + current : "");
}

async function refreshFiles() {
  let files = [];
  try { files = (await api("GET", "/api/files")).files; } catch (e) { $("upload-status").textContent = e.message; return; }
  const body = $("file-table").querySelector("tbody");
  body.replaceChildren();
  for (const f of files) {
    const row = el("tr", { class: f.artifact ? "artifact" : "", "data-path": f.path });
    const name = el("td", { class: "name" }, f.path);
    if (f.artifact) name.appendChild(el("span", { class: "badge" }, "from the agent"));
    row.appendChild(name);
    row.appendChild(el("td", {}, humanSize(f.size)));
    row.appendChild(el("td", {}, f.modified ? new Date(f.modified).toLocaleString() : ""));
    const actions = el("td", { class: "actions" });
    actions.appendChild(el("a", { href: downloadUrl(f.path), download: f.name, class: "download" }, "Download"));
    const remove = el("button", { type: "button", class: "delete" }, "Delete");
    remove.addEventListener("click", async () => {
      try { await api("DELETE", "/api/files?path=" + encodeURIComponent(f.path)); } catch (e) { $("upload-status").textContent = e.message; }
      refreshFiles();
    });
    actions.appendChild(remove);
    row.appendChild(actions);
    body.appendChild(row);
  }
  $("no-files").hidden = files.length > 0;
}

function uploadFile(file) {
  const row = el("div", { class: "upload" });
  row.appendChild(el("span", { class: "upload-name" }, file.name));
  const bar = el("progress", { max: "100", value: "0" });
  row.appendChild(bar);
  $("upload-status").appendChild(row);
  if (file.size > maxUpload) {
    row.classList.add("failed");
    row.appendChild(el("span", { class: "error" }, file.name + " is larger than the upload limit of " + humanSize(maxUpload) + "."));
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("files", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/files");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    if (current) xhr.setRequestHeader("X-Conversation", current);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((e.loaded * 100) / e.total); };
    xhr.onload = () => {
      if (xhr.status === 200) {
        bar.value = 100;
        row.classList.add("done");
      } else {
        let message = xhr.statusText;
        try { message = JSON.parse(xhr.responseText).error || message; } catch (_) {}
        row.classList.add("failed");
        row.appendChild(el("span", { class: "error" }, message));
      }
      resolve();
    };
    xhr.onerror = () => { row.classList.add("failed"); row.appendChild(el("span", { class: "error" }, "The upload failed.")); resolve(); };
    xhr.send(form);
  });
}

// ---- wiring ------------------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  const noModel = document.body.classList.contains("no-model");
  if (noModel) $("code-cell").open = true;
  $("chat-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const message = $("prompt").value.trim();
    if (!message || noModel) return;
    $("prompt").value = "";
    $("send").disabled = true;
    $("stop").hidden = false;
    turnConversation = current;
    try { await sendChat(message); } catch (err) { addError($("messages"), err.message); } finally {
      $("send").disabled = false;
      $("stop").hidden = true;
    }
  });
  $("stop").addEventListener("click", async () => {
    $("stop").disabled = true;
    try {
      await fetch("/api/chat/stop", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "X-Conversation": turnConversation },
      });
    } catch (e) { addError($("messages"), e.message); } finally { $("stop").disabled = false; }
  });
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("chat-form").requestSubmit(); }
  });
  $("code-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const code = $("code").value;
    if (!code.trim()) return;
    $("run").disabled = true;
    try { await runCell(code); } finally { $("run").disabled = false; }
  });
  $("upload-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const files = Array.from($("file-input").files);
    $("upload-status").replaceChildren();
    for (const file of files) await uploadFile(file);
    $("file-input").value = "";
    refreshFiles();
  });
  $("new-session").addEventListener("click", async () => {
    try { await openConversation((await api("POST", "/api/conversations")).id); } catch (e) { addError($("messages"), e.message); }
  });
  setCurrent(current);
  openConversation(current);
});
