"use strict";
// The chat page. Everything the model or the code produced is inserted as text (textContent), except the
// final answer, which the server rendered from Markdown and sanitised.

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const maxUpload = Number(document.querySelector('meta[name="max-upload"]').content);
const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

async function api(method, url, body) {
  const options = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
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

function newAssistant() {
  const root = el("div", { class: "msg assistant" });
  const bubble = el("div", { class: "bubble streaming" });
  root.appendChild(bubble);
  $("messages").appendChild(root);
  return { root, bubble, text: "" };
}

function addError(root, message) {
  root.appendChild(el("p", { class: "error" }, message));
  scrollDown();
}

function toolCall(container, event) {
  const step = el("details", { class: "tool-step", open: "" });
  const title = event.name === "run_python" ? (event.cell ? "Ran Python (code cell)" : "Ran Python") : "Used " + event.name;
  step.appendChild(el("summary", {}, title));
  if (event.code) step.appendChild(el("pre", { class: "code" }, event.code));
  else if (event.args) step.appendChild(el("pre", { class: "args" }, JSON.stringify(event.args, null, 2)));
  container.appendChild(step);
  scrollDown();
  return step;
}

function section(step, label, text, cls) {
  step.appendChild(el("div", { class: "label" }, label));
  step.appendChild(el("pre", { class: cls || "output" }, text));
}

function toolResult(step, event) {
  const report = event.report;
  if (report && typeof report === "object" && "status" in report) {
    step.classList.add(report.status === "Succeeded" ? "ok" : "failed");
    step.querySelector("summary").appendChild(el("span", { class: "status" }, report.status));
    if (report.stdout) section(step, "stdout", report.stdout);
    if (report.stderr) section(step, "stderr", report.stderr, "output stderr");
    if (report.result !== undefined && report.result !== null) {
      section(step, "result", typeof report.result === "string" ? report.result : JSON.stringify(report.result));
    }
    for (const note of report.notes || []) step.appendChild(el("p", { class: "note" }, note));
    for (const f of report.files_changed || []) {
      step.appendChild(el("p", { class: "file-change" }, f.change + " file: " + f.path + " " + humanSize(f.size)));
    }
  } else {
    if (event.is_error) step.classList.add("failed");
    section(step, "output", event.text || "");
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

function finish(assistant, html) {
  assistant.bubble.classList.remove("streaming");
  assistant.bubble.innerHTML = html; // rendered and sanitised on the server
  assistant.root.appendChild(assistant.bubble); // the answer comes after the tool steps
  scrollDown();
}

// ---- chat --------------------------------------------------------------------------------------------------
async function sendChat(message) {
  addUser(message);
  const assistant = newAssistant();
  const steps = new Map();
  let lastStep = null;
  const handle = (event) => {
    switch (event.type) {
      case "text":
        assistant.text += event.delta;
        assistant.bubble.textContent = assistant.text;
        break;
      case "tool_call":
        lastStep = toolCall(assistant.root, event);
        steps.set(JSON.stringify(event.id), lastStep);
        break;
      case "tool_result":
        toolResult(steps.get(JSON.stringify(event.id)) || lastStep || toolCall(assistant.root, event), event);
        break;
      case "artifact":
        artifactNote(assistant.root, event);
        break;
      case "files":
        refreshFiles();
        break;
      case "done":
        finish(assistant, event.html);
        break;
      case "error":
        assistant.bubble.classList.remove("streaming");
        addError(assistant.root, event.message);
        break;
    }
  };
  const response = await fetch("/api/chat", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ message }),
  });
  if (!response.ok) {
    assistant.bubble.classList.remove("streaming");
    addError(assistant.root, await errorText(response));
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
  refreshFiles();
}

// ---- code cell ---------------------------------------------------------------------------------------------
async function runCell(code) {
  const container = el("div", { class: "msg cell" });
  $("messages").appendChild(container);
  const step = toolCall(container, { name: "run_python", code, cell: true });
  try {
    toolResult(step, await api("POST", "/api/run", { code }));
  } catch (e) {
    addError(container, e.message);
  }
  refreshFiles();
}

// ---- history -----------------------------------------------------------------------------------------------
async function loadHistory() {
  const { events } = await api("GET", "/api/history");
  let container = null;
  let lastStep = null;
  for (const event of events) {
    if (event.type === "user") { addUser(event.text); container = null; continue; }
    if (!container) {
      container = el("div", { class: event.cell ? "msg cell" : "msg assistant" });
      $("messages").appendChild(container);
    }
    if (event.type === "tool_call") lastStep = toolCall(container, event);
    else if (event.type === "tool_result") toolResult(lastStep || toolCall(container, event), event);
    else if (event.type === "artifact") artifactNote(container, event);
    else if (event.type === "error") addError(container, event.message);
    else if (event.type === "assistant") {
      const bubble = el("div", { class: "bubble" });
      bubble.innerHTML = event.html; // rendered and sanitised on the server
      container.appendChild(bubble);
      container = null;
    }
  }
}

// ---- files -------------------------------------------------------------------------------------------------
function downloadUrl(path) { return "/api/files/download?path=" + encodeURIComponent(path); }

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
    try { await sendChat(message); } finally { $("send").disabled = false; }
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
    await api("POST", "/api/session/new");
    $("messages").replaceChildren();
    $("upload-status").replaceChildren();
    refreshFiles();
  });
  loadHistory().catch((e) => addError($("messages"), e.message));
  refreshFiles();
});
