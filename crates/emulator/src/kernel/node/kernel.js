'use strict';
// The JavaScript (NodeLTS) session kernel of the dynamic-sessions emulator.
//
// One long-lived Node process per session, Node's standard library only. It speaks the protocol of the Python
// kernel (src/kernel/protocol.rs names the messages alike) and runs each cell like a notebook, as IJavascript
// does: top-level `let`, `const`, `function` and `class` declarations stay from cell to cell, the value of the
// last expression is the result, and top-level `await` works (rewritten as Node's REPL rewrites it).
//
//   host -> kernel  {"op": "exec", "id": "...", "code": "..."}
//   host -> kernel  {"op": "shell", "id": "...", "command": "..." | "argv": [...], "stdin": "..." | null}
//   host -> kernel  {"op": "interrupt", "id": "..."}          (at any time)
//   kernel -> host  {"op": "ready", "pid": 2, "version": "20.20.2", "preimport_ms": 0, "preimport_errors": []}
//   kernel -> host  {"op": "result", "id": "...", "status": "Success" | "Failure", "stdout": "...",
//                    "stderr": "...", "result": <json> | null, "result_kind": "none" | "json" | "nonfinite" |
//                    "repr", "result_repr": "..." | null, "images": [], "duration_ms": 1.2,
//                    "interrupted": false, "exit_code": <int> (shell only)}
//
// The launcher (kernel/python/launch.py) hands it these descriptors: 0 /dev/null; 1 and 2 the write ends of two
// pipes that the kernel drains (so everything the code and its child processes print is captured); 3 the
// requests; 4 the replies; 5 and 6 the read ends of those pipes; 7 the kernel's own diagnostics.
//
// Output is bounded by DS_OUTPUT_CAP bytes per stream and cell, the result's text by the same cap.

const fs = require('fs');
const path = require('path');
const util = require('util');
const vm = require('vm');
const Module = require('module');
const { Worker, isMainThread, parentPort } = require('worker_threads');

const FD = { stdout: 1, stderr: 2, requests: 3, replies: 4, stdoutDrain: 5, stderrDrain: 6, diagnostics: 7 };
const OUTPUT_CAP = Number(process.env.DS_OUTPUT_CAP || 1 << 20);
// The session's files: /mnt/data, except in the Landlock tier, which has no mount namespace to put them there.
const DATA_DIR = process.env.DS_DATA_DIR || '/mnt/data';

if (!isMainThread) {
  worker();
} else {
  main().catch((error) => {
    try {
      fs.writeSync(FD.diagnostics, `the JavaScript kernel failed: ${error && error.stack ? error.stack : error}\n`);
    } catch (_) {
      // nowhere left to say it
    }
    process.exit(70);
  });
}

// -------------------------------------------------------------------------------------------------------------
// The I/O thread: a worker with an event loop of its own, which a cell busy in synchronous code cannot block. It
// reads the requests and drains both capture pipes.

function worker() {
  const net = require('net');
  let current = 0;
  let seq = 0;
  const ids = new Map();
  const streams = [FD.stdoutDrain, FD.stderrDrain].map(() => ({ chunks: [], kept: 0, total: 0, tail: Buffer.alloc(0), done: null }));
  let marker = null;
  const flush = () => {
    if (!streams.every((s) => s.done !== null)) return;
    parentPort.postMessage({ op: 'drained', texts: streams.map((s) => s.done) });
    for (const s of streams) Object.assign(s, { chunks: [], kept: 0, total: 0, tail: Buffer.alloc(0), done: null });
    current = 0;
    marker = null;
  };
  parentPort.on('message', (message) => {
    if (message.op === 'begin') {
      current = message.seq;
      marker = Buffer.from(message.marker);
      for (const s of streams) Object.assign(s, { chunks: [], kept: 0, total: 0, tail: Buffer.alloc(0), done: null });
    }
  });
  [FD.stdoutDrain, FD.stderrDrain].forEach((fd, index) => {
    const s = streams[index];
    const keep = (data) => {
      if (data.length === 0) return;
      s.total += data.length;
      const room = OUTPUT_CAP - s.kept;
      if (room > 0) {
        const part = data.subarray(0, room);
        s.chunks.push(Buffer.from(part));
        s.kept += part.length;
      }
    };
    const socket = new net.Socket({ fd, readable: true, writable: false });
    socket.on('error', () => {});
    socket.on('data', (data) => {
      // Between cells (a background process still printing), nothing is kept.
      if (marker === null || s.done !== null) return;
      const window = Buffer.concat([s.tail, data]);
      const at = window.indexOf(marker);
      if (at < 0) {
        const hold = Math.min(window.length, marker.length - 1);
        keep(window.subarray(0, window.length - hold));
        s.tail = Buffer.from(window.subarray(window.length - hold));
        return;
      }
      keep(window.subarray(0, at));
      const data_ = Buffer.concat(s.chunks);
      let text = data_.toString('utf8');
      if (s.total > data_.length) text += `\n[output truncated: ${data_.length} of ${s.total} bytes shown]\n`;
      s.done = text;
      flush();
    });
  });
  const requests = new net.Socket({ fd: FD.requests, readable: true, writable: false });
  let pending = '';
  requests.on('error', () => {});
  requests.on('end', () => parentPort.postMessage({ op: 'closed' }));
  requests.on('data', (data) => {
    pending += data.toString('utf8');
    let end;
    while ((end = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      let request;
      try {
        request = JSON.parse(line);
      } catch (_) {
        continue;
      }
      if (request.op === 'interrupt') {
        const target = request.id === undefined || request.id === null ? current : ids.get(request.id);
        if (current !== 0 && target === current) {
          // A cell in synchronous code reads no message: SIGINT stops it (`breakOnSigint`).
          process.kill(process.pid, 'SIGINT');
          parentPort.postMessage({ op: 'interrupt', seq: current });
        }
        continue;
      }
      seq += 1;
      ids.set(request.id, seq);
      if (ids.size > 1024) ids.delete(ids.keys().next().value);
      parentPort.postMessage({ op: 'request', seq, request });
    }
  });
}

// -------------------------------------------------------------------------------------------------------------
// The main thread: one cell at a time.

async function main() {
  const io = new Worker(__filename);
  const queue = [];
  let wake = null;
  let interrupted = null;
  let drained = null;
  io.on('message', (message) => {
    if (message.op === 'interrupt') {
      if (interrupted && interrupted.seq === message.seq) interrupted.stop();
    } else if (message.op === 'drained') {
      if (drained) drained(message.texts);
    } else {
      queue.push(message);
      if (wake) wake();
    }
  });
  // Nothing a cell leaves behind may end the kernel: errors and rejections are reported with the cell that is
  // running when they come, if any.
  const late = { errors: [] };
  process.on('uncaughtException', (error) => late.errors.push(error));
  process.on('unhandledRejection', (reason) => late.errors.push(reason));
  process.on('SIGINT', () => {});
  // The kernel's own writes go through the streams as they are now, whatever a cell does to them.
  const [out, err] = [process.stdout, process.stderr];
  const [writeOut, writeErr] = [out.write, err.write];
  if (DATA_DIR !== '/mnt/data') translatePaths(DATA_DIR);
  installGlobals();
  // Ready means ready: the I/O thread runs, and what the first cell would compile for the first time (the
  // script path, the top-level await rewrite) has run once.
  await new Promise((resolve) => io.once('online', resolve));
  const warming = process.hrtime.bigint();
  new vm.Script('void 0', { filename: 'warm-up.js' }).runInThisContext({ breakOnSigint: true });
  if (rewriteAwait) rewriteAwait('await 0');
  util.inspect({ warm: [1] });
  const warmed = Number(process.hrtime.bigint() - warming) / 1e6;
  send({ op: 'ready', pid: process.pid, version: process.versions.node, preimport_ms: warmed, preimport_errors: [] });
  let cell = 0;
  for (;;) {
    while (queue.length === 0) await new Promise((resolve) => { wake = resolve; });
    wake = null;
    const { seq, op, request } = queue.shift();
    if (op === 'closed') process.exit(0);
    if (request.op !== 'exec' && request.op !== 'shell') continue;
    const marker = `\u0000ds-end-${Math.random().toString(16).slice(2)}${process.hrtime.bigint()}\u0000`;
    io.postMessage({ op: 'begin', seq, marker });
    const stop = stopper(seq);
    interrupted = stop;
    late.errors = [];
    const started = process.hrtime.bigint();
    let response;
    try {
      response = request.op === 'exec' ? await execute(request, (cell += 1), stop, late) : await shell(request, stop);
    } finally {
      interrupted = null;
    }
    const texts = await new Promise((resolve) => {
      drained = (t) => { drained = null; resolve(t); };
      if (response.stderrExtra) writeErr.call(err, response.stderrExtra);
      writeOut.call(out, marker);
      writeErr.call(err, marker);
    });
    delete response.stderrExtra;
    [response.stdout, response.stderr] = texts;
    response.duration_ms = Number(process.hrtime.bigint() - started) / 1e6;
    send(response);
  }
}

// An interrupt of request `seq`: `promise` settles when it comes (for cells waiting on a promise).
function stopper(seq) {
  let stop;
  const promise = new Promise((resolve) => { stop = resolve; });
  return { seq, promise, stop };
}

function send(message) {
  fs.writeSync(FD.replies, `${JSON.stringify(message)}\n`);
}

// -------------------------------------------------------------------------------------------------------------
// Cells.

function installGlobals() {
  const cwd = process.cwd();
  globalThis.require = Module.createRequire(path.join(cwd, '[cell]'));
  globalThis.module = { exports: {}, require: globalThis.require, id: '[cell]', filename: path.join(cwd, '[cell]') };
  globalThis.exports = globalThis.module.exports;
  globalThis.__dirname = cwd;
  globalThis.__filename = path.join(cwd, '[cell]');
}

// Where the session directory is not mounted at /mnt/data (the Landlock tier), paths under /mnt/data given to
// `fs` (callbacks, sync and promises) and `process.chdir` are mapped onto it.
function translatePaths(real) {
  const prefix = '/mnt/data';
  const tr = (p) => {
    if (p instanceof URL && p.protocol === 'file:') p = require('url').fileURLToPath(p);
    if (Buffer.isBuffer(p)) {
      const text = p.toString('utf8');
      return text === prefix || text.startsWith(`${prefix}/`) ? Buffer.from(real + text.slice(prefix.length)) : p;
    }
    return typeof p === 'string' && (p === prefix || p.startsWith(`${prefix}/`)) ? real + p.slice(prefix.length) : p;
  };
  const twoPaths = new Set(['rename', 'copyFile', 'cp', 'link', 'symlink', 'renameSync', 'copyFileSync', 'cpSync', 'linkSync', 'symlinkSync']);
  const wrap = (target) => {
    for (const name of Object.keys(target)) {
      const fn = target[name];
      if (typeof fn !== 'function' || /^[A-Z]/.test(name) || name === 'promises') continue;
      const paths = twoPaths.has(name) ? 2 : 1;
      const wrapped = function (...args) {
        for (let i = 0; i < paths && i < args.length; i += 1) args[i] = tr(args[i]);
        return fn.apply(this, args);
      };
      Object.defineProperty(wrapped, 'name', { value: fn.name });
      target[name] = wrapped;
    }
  };
  wrap(fs);
  wrap(fs.promises);
  const chdir = process.chdir;
  process.chdir = (dir) => chdir.call(process, tr(dir));
}

let rewriteAwait;
try {
  // Node's own REPL rewrite of top-level await (needs --expose-internals): declarations stay global.
  rewriteAwait = require('internal/repl/await').processTopLevelAwait;
} catch (_) {
  rewriteAwait = null;
}

// IJavascript's `$$` helpers: `$$.async()` makes the cell wait for `$$.sendResult(value)`, `$$.sendError(error)`
// or `$$.done()`.
function asyncHelpers() {
  const state = { async: false, settle: null, promise: null };
  state.promise = new Promise((resolve) => { state.settle = resolve; });
  return {
    state,
    api: {
      async(value) {
        state.async = arguments.length === 0 ? true : !!value;
        return state.async;
      },
      sendResult(value) { state.settle({ value }); },
      sendError(error) { state.settle({ error }); },
      done() { state.settle({}); },
    },
  };
}

async function execute(request, cell, stop, late) {
  const code = typeof request.code === 'string' ? request.code : '';
  const filename = `cell${cell}.js`;
  const helpers = asyncHelpers();
  globalThis.$$ = helpers.api;
  let value;
  let error = null;
  let interrupted = false;
  try {
    const rewritten = rewriteAwait && /\bawait\b/.test(code) ? rewriteAwait(code) : null;
    const script = new vm.Script(rewritten === null ? code : rewritten, { filename });
    value = script.runInThisContext({ breakOnSigint: true, displayErrors: false });
    if (rewritten !== null) value = await race(value, stop).then((wrapped) => (wrapped ? wrapped.value : undefined));
    if (helpers.state.async) {
      const settled = await race(helpers.state.promise, stop);
      if (settled && 'error' in settled) throw settled.error;
      value = settled ? settled.value : undefined;
    }
    // Let rejections the cell left unhandled surface before it ends.
    await new Promise((resolve) => setImmediate(resolve));
  } catch (caught) {
    error = caught;
  }
  if (error && (error === STOPPED || /Script execution (was )?interrupted/.test(String(error && error.message)))) {
    interrupted = true;
    error = null;
  }
  const response = {
    op: 'result', id: request.id, status: 'Success', result: null, result_kind: 'none', result_repr: null,
    images: [], interrupted, stderrExtra: '',
  };
  const errors = error ? [error, ...late.errors] : late.errors;
  if (interrupted) {
    response.status = 'Failure';
    response.stderrExtra = 'Error: Script execution interrupted.\n';
  } else if (errors.length > 0) {
    response.status = 'Failure';
    response.stderrExtra = errors.map(describeError).join('\n');
  } else {
    Object.assign(response, resultOf(value));
    if (value !== undefined) globalThis._ = value;
  }
  return response;
}

const STOPPED = Symbol('stopped');

// `promise`, or STOPPED thrown when the interrupt comes first.
function race(promise, stop) {
  return Promise.race([promise, stop.promise.then(() => { throw STOPPED; })]);
}

// An error as the cell's stderr shows it: its stack, without the frames of the kernel and of `vm`.
function describeError(error) {
  if (error && typeof error === 'object' && typeof error.stack === 'string') {
    const own = (line) => line.includes(__filename) || /\(node:vm:|at node:vm:/.test(line);
    return `${error.stack.split('\n').filter((line) => !own(line)).join('\n')}\n`;
  }
  return `Uncaught ${util.inspect(error)}\n`;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// Whether `value` is plain JSON: primitives (finite numbers), arrays and plain objects of them.
function isPlainJson(value, depth = 0) {
  if (depth > 64) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value) && Math.abs(value) <= MAX_SAFE;
  if (Array.isArray(value)) return value.every((item) => isPlainJson(item, depth + 1));
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    return Object.values(value).every((item) => isPlainJson(item, depth + 1));
  }
  return false;
}

function capText(text) {
  return text.length <= OUTPUT_CAP ? text : text.slice(0, OUTPUT_CAP);
}

// (result, kind, repr) of a cell's value: `undefined` is no value; numbers, strings, booleans, null and
// plain JSON as they are; NaN and the infinities as their text; anything else as Node shows it.
function resultOf(value) {
  if (value === undefined) return { result: null, result_kind: 'none', result_repr: null };
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return { result: String(value), result_kind: 'nonfinite', result_repr: String(value) };
  }
  if (isPlainJson(value)) {
    const text = JSON.stringify(value);
    if (text.length <= OUTPUT_CAP) {
      return { result: value, result_kind: 'json', result_repr: capText(util.inspect(value, { depth: 4 })) };
    }
  }
  const shown = capText(util.inspect(value, { depth: 4 }));
  return { result: shown, result_kind: 'repr', result_repr: shown };
}

// -------------------------------------------------------------------------------------------------------------
// Shell commands: Bash (or an argument list) in the session's working directory, in a process group of its own
// that an interrupt kills whole.

function shell(request, stop) {
  const { spawn } = require('child_process');
  const argv = Array.isArray(request.argv) && request.argv.length > 0 ? request.argv : ['/bin/bash', '-c', request.command || ''];
  return new Promise((resolve) => {
    const result = (status, exitCode, extra, interrupted) => resolve({
      op: 'result', id: request.id, status, result: null, result_kind: 'none', result_repr: null, images: [],
      exit_code: exitCode, interrupted, stderrExtra: extra,
    });
    let child;
    try {
      child = spawn(argv[0], argv.slice(1), {
        stdio: [request.stdin === null || request.stdin === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'],
        detached: process.env.DS_NO_PROCESS_GROUPS !== '1',
      });
    } catch (error) {
      result('Failure', 127, `${argv[0]}: ${error.message}\n`, false);
      return;
    }
    let stopped = false;
    stop.promise.then(() => {
      stopped = true;
      try {
        if (process.env.DS_NO_PROCESS_GROUPS === '1') child.kill('SIGKILL');
        else process.kill(-child.pid, 'SIGKILL');
      } catch (_) {
        // gone already
      }
    });
    child.on('error', (error) => {
      const code = error.code === 'ENOENT' ? 127 : 126;
      result('Failure', code, `${argv[0]}: ${error.message}\n`, false);
    });
    child.on('close', (code, signal) => {
      if (stopped) {
        result('Failure', -1, 'The command was stopped: it ran past its time limit.\n', true);
        return;
      }
      const exitCode = code === null ? 128 + (signal ? require('os').constants.signals[signal] || 0 : 0) : code;
      result(exitCode === 0 ? 'Success' : 'Failure', exitCode, '', false);
    });
    if (child.stdin) {
      child.stdin.on('error', () => {});
      child.stdin.end(request.stdin);
    }
  });
}
