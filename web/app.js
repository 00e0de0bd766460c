// mod_pairest's portal: a page application over the API on this origin.
// Views are drawn with DOM calls (never HTML from data), the token lives in
// the tab's sessionStorage only, and every API error shows the API's message.

const PAGE = 25;
const main = document.getElementById("main");
const flashBox = document.getElementById("flash");
let session = JSON.parse(sessionStorage.getItem("pai.session") || "null");
let refreshView = null;     // the current view's redraw, for the change feed (given the
                            // change, or null: redraw whatever changed)
let openLog = null;         // the log a job's view shows: {fw, role, index, which}
let viewSeq = 0;            // a view drawn for an older route draws nothing

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// ---- small DOM helpers ------------------------------------------------------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    // Through the CSSOM: the policy refuses style attributes.
    else if (k === "style") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

function show(...nodes) {
  main.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

// A message for the user; `keep`: it is about the view being opened next.
function flash(msg, ok, keep) {
  flashBox.className = ok ? "ok" : "";
  flashBox.textContent = msg || "";
  flashBox.dataset.keep = keep ? "1" : "";
}

function fmtTime(ms) {
  if (!ms) return h("span", { class: "muted" }, "—");
  const d = new Date(ms);
  return h("time", { datetime: d.toISOString(), title: d.toISOString() }, d.toLocaleString());
}

function stateBadge(state) {
  return h("span", { class: "state s-" + (state || "UNKNOWN") }, state || "UNKNOWN");
}

function td(label, ...kids) {
  return h("td", { "data-label": label }, ...kids);
}

function field(label, input) {
  return h("label", {}, label, input);
}

function enc(s) {
  return encodeURIComponent(s);
}

// ---- the API ------------------------------------------------------------------

async function api(method, path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (session) headers.Authorization = "Bearer " + session.token;
  let body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.text !== undefined) {
    body = opts.text;
  }
  const r = await fetch(path, { method, headers, body, signal: opts.signal });
  if (opts.raw && r.ok) return r;
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!r.ok) {
    const message = data && data.message ? data.message : `${r.status} ${r.statusText || "error"}`;
    const err = new ApiError(r.status, data && (data.code || data.error), message);
    // 401 NotAuthorized is an admin-only call; any other 401 is a token that ended.
    if (r.status === 401 && session && !opts.noLogout && err.code !== "NotAuthorized")
      endSession("Your sign-in ended: " + message);
    throw err;
  }
  return data === null ? text : data;
}

function endSession(message) {
  session = null;
  sessionStorage.removeItem("pai.session");
  feed.stop();
  flash(message, false, true);
  location.hash = "#/login";
}

// ---- the change feed: the change stream read with fetch (an EventSource
// cannot send a token), polling with backoff when the stream is not there ----

const feed = {
  ctrl: null, lastId: null, timer: null, backoff: 2000, debounce: null,
  start() {
    if (this.ctrl || !session) return;
    this.ctrl = new AbortController();
    this.read(this.ctrl).catch(() => {}).finally(() => this.retry());
  },
  stop() {
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = null;
    clearTimeout(this.timer);
  },
  retry() {
    const ctrl = this.ctrl;
    if (!ctrl || ctrl.signal.aborted) return;
    this.ctrl = null;
    // Without a stream, the view is polled: at the same backoff.
    this.changed(null);
    this.timer = setTimeout(() => this.start(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 60000);
  },
  async read(ctrl) {
    const headers = { Accept: "text/event-stream" };
    if (this.lastId !== null) headers["Last-Event-ID"] = String(this.lastId);
    const r = await api("GET", "/api/v2/events/stream", { raw: true, headers, signal: ctrl.signal,
                                                          noLogout: true });
    this.backoff = 2000;
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let change = null;
        for (const line of frame.split("\n")) {
          if (line.startsWith("id: ")) this.lastId = Number(line.slice(4));
          if (line.startsWith("data: ")) {
            try { change = JSON.parse(line.slice(6)); } catch (e) { change = null; }
          }
        }
        if (/^event: job$/m.test(frame)) this.changed(change);
        else if (/^event: reset$/m.test(frame)) this.changed(null);
      }
    }
  },
  // Changes that come together are one redraw; a view told of a change
  // that is not its own may leave it.
  pending: [],
  changed(change) {
    this.pending.push(change);
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      const changes = this.pending;
      this.pending = [];
      if (refreshView) refreshView(changes.includes(null) ? null : changes);
    }, 400);
  },
};

// ---- the frame: navigation and routes -----------------------------------------

function drawNav(route) {
  const nav = document.getElementById("nav");
  if (!session) { nav.replaceChildren(); return; }
  const link = (href, text) => h("a", { href, "aria-current": route.startsWith(href) ? "page" : null }, text);
  nav.replaceChildren(...[
    link("#/jobs", "Jobs"), link("#/submit", "Submit"), link("#/vcs", "Virtual clusters"),
    session.admin ? link("#/admin/users", "Users") : null,
    session.admin ? link("#/admin/audit", "Audit") : null,
    h("span", { class: "who" }, session.user + (session.admin ? " (admin)" : "")),
    h("button", { class: "plain", type: "button", onclick: signOut }, "Sign out")].filter(Boolean));
}

const routes = [
  [/^#\/login$/, viewLogin],
  [/^#\/jobs$/, viewJobs],
  [/^#\/jobs\/([^/]+~[^/]+)$/, viewJob],
  [/^#\/submit$/, viewSubmit],
  [/^#\/vcs$/, viewVcs],
  [/^#\/admin\/users$/, viewUsers],
  [/^#\/admin\/audit$/, viewAudit],
];

async function route() {
  const [path, query] = (location.hash || "#/jobs").split("?");
  const params = new URLSearchParams(query || "");
  const seq = ++viewSeq;
  refreshView = null;
  if (flashBox.dataset.keep === "1") flashBox.dataset.keep = "";
  else flash("");
  if (!session && path !== "#/login") { location.hash = "#/login"; return; }
  drawNav(path);
  for (const [re, view] of routes) {
    const m = path.match(re);
    if (!m) continue;
    const ctx = { params, live: () => seq === viewSeq, args: m.slice(1).map(decodeURIComponent) };
    try {
      await view(ctx);
    } catch (e) {
      if (ctx.live()) failed(e);
    }
    // The new view takes the focus (for screen readers and the keyboard),
    // unless it put it on one of its fields.
    if (ctx.live() && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
    return;
  }
  location.hash = session ? "#/jobs" : "#/login";
}

function failed(e) {
  show(h("h1", {}, e.status ? `Error ${e.status}` : "Error"),
       h("p", { class: "panel" }, e.message || String(e)));
}

async function signOut() {
  try { await api("DELETE", "/api/v2/authn/basic/logout", { noLogout: true }); } catch (e) { /* gone already */ }
  endSession("");
  flash("Signed out.", true, true);
}

// ---- sign in -----------------------------------------------------------------------

async function viewLogin() {
  const user = h("input", { name: "username", autocomplete: "username", required: true });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "panel", id: "login" },
    h("div", { class: "row" }, field("User name", user), field("Password", pass),
      h("button", { type: "submit" }, "Sign in")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/api/v2/authn/basic/login",
                          { json: { username: user.value, password: pass.value }, noLogout: true });
      session = { user: r.user, token: r.token, admin: r.admin };
      sessionStorage.setItem("pai.session", JSON.stringify(session));
      feed.start();
      location.hash = "#/jobs";
    } catch (e) {
      flash(e.message);
    }
  });
  show(h("h1", {}, "Sign in"), form,
       h("p", { class: "muted" }, "Your sign-in lasts as long as this tab; signing out ends the token on the server."));
  user.focus();
}

// ---- jobs ---------------------------------------------------------------------------

const STATES = ["", "WAITING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"];

async function vcNames() {
  return Object.keys(await api("GET", "/api/v2/virtual-clusters")).sort();
}

async function viewJobs(ctx) {
  const p = ctx.params;
  const offset = Math.max(0, Number(p.get("offset")) || 0);
  const q = new URLSearchParams({ offset, limit: PAGE, withTotalCount: "true" });
  for (const k of ["username", "state", "vc", "keyword"]) if (p.get(k)) q.set(k, p.get(k));
  const [list, vcs] = await Promise.all([api("GET", "/api/v2/jobs?" + q), vcNames()]);
  if (!ctx.live()) return;
  const go = (over) => {
    const n = new URLSearchParams(p);
    for (const [k, v] of Object.entries(over)) { if (v === "" || v === null) n.delete(k); else n.set(k, v); }
    location.hash = "#/jobs?" + n;
  };
  const sel = (name, values, current) => h("select", { name },
    values.map((v) => h("option", { value: v, selected: v === (current || "") }, v || "any")));
  const filters = h("form", { class: "panel row", id: "filters" },
    field("User", h("input", { name: "username", value: p.get("username") || "", size: 12 })),
    field("State", sel("state", STATES, p.get("state"))),
    field("Virtual cluster", sel("vc", [""].concat(vcs), p.get("vc"))),
    field("Name contains", h("input", { name: "keyword", value: p.get("keyword") || "", size: 14 })),
    h("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(filters);
    go({ username: f.get("username").trim(), state: f.get("state"), vc: f.get("vc"),
         keyword: f.get("keyword").trim(), offset: "" });
  });
  const rows = list.data.map((j) => h("tr", {},
    td("Name", h("a", { href: `#/jobs/${enc(j.username + "~" + j.name)}` }, j.name)),
    td("User", j.username), td("Virtual cluster", j.virtualCluster),
    td("State", stateBadge(j.state)), td("Submitted", fmtTime(j.createdTime)),
    td("Ended", fmtTime(j.completedTime)), td("Retries", String(j.retries)),
    td("Tasks", String(j.totalTaskNumber)), td("GPUs", String(j.totalGpuNumber))));
  const last = Math.min(offset + PAGE, list.totalCount);
  const pager = h("div", { class: "pager" },
    h("button", { class: "plain", type: "button", disabled: offset === 0,
                  onclick: () => go({ offset: Math.max(0, offset - PAGE) || "" }) }, "← Newer"),
    h("span", {}, list.totalCount ? `${offset + 1}–${last} of ${list.totalCount}` : "no jobs"),
    h("button", { class: "plain", type: "button", disabled: last >= list.totalCount,
                  onclick: () => go({ offset: offset + PAGE }) }, "Older →"));
  show(h("h1", {}, "Jobs"), filters, pager,
       h("table", { class: "cards", id: "jobs" },
         h("thead", {}, h("tr", {}, ["Name", "User", "Virtual cluster", "State", "Submitted",
                                     "Ended", "Retries", "Tasks", "GPUs"].map((t) => h("th", {}, t)))),
         h("tbody", {}, rows)),
       rows.length ? null : h("p", { class: "muted" }, "No job matches."));
  refreshView = () => viewJobs(ctx).catch(() => {});
}

async function viewJob(ctx) {
  const fw = ctx.args[0];
  const [user, name] = fw.split("~");
  const [job, attempts] = await Promise.all([
    api("GET", `/api/v2/jobs/${enc(fw)}`),
    api("GET", `/api/v2/jobs/${enc(fw)}/job-attempts`).catch(() => [])]);
  if (!ctx.live()) return;
  const st = job.jobStatus;
  const mine = session.admin || session.user === user;
  const finished = ["SUCCEEDED", "FAILED", "STOPPED"].includes(st.state);
  const execute = async (value) => {
    try {
      await api("PUT", `/api/v2/jobs/${enc(fw)}/executionType`, { json: { value } });
      flash(value === "STOP" ? "Stopping the job." : "The job starts again.", true);
      viewJob(ctx).catch(failed);
    } catch (e) { flash(e.message); }
  };
  const actions = h("div", { class: "actions" },
    mine && !finished ? h("button", { class: "danger", type: "button", id: "stop",
                                      onclick: () => execute("STOP") }, "Stop") : null,
    mine && finished ? h("button", { type: "button", id: "start",
                                     onclick: () => execute("START") }, "Start again") : null,
    h("a", { class: "button plain", href: `#/submit?clone=${enc(fw)}` }, "Clone this job"));
  const pending = job.pending ? h("div", { class: "panel", id: "pending" },
    h("strong", {}, "Why it waits: "), job.pending.message,
    job.pending.queuePosition ? h("div", {}, `Place in its VC's queue: ${job.pending.queuePosition}`) : null,
    job.pending.estimatedStartTime ? h("div", {}, "Expected start: ", fmtTime(job.pending.estimatedStartTime)) : null) : null;
  const summary = h("dl", { class: "kv panel" },
    h("dt", {}, "State"), h("dd", { id: "job-state" }, stateBadge(st.state), " ", h("span", { class: "muted" }, st.subState || "")),
    h("dt", {}, "User"), h("dd", {}, user),
    h("dt", {}, "Virtual cluster"), h("dd", {}, st.virtualCluster),
    h("dt", {}, "Submitted"), h("dd", {}, fmtTime(st.createdTime)),
    h("dt", {}, "Started"), h("dd", {}, fmtTime(st.appLaunchedTime)),
    h("dt", {}, "Ended"), h("dd", {}, fmtTime(st.completedTime)),
    h("dt", {}, "Attempt"), h("dd", {}, `${st.attemptId ?? st.retries} (retries ${st.retries})`),
    h("dt", {}, "Exit"), h("dd", {}, st.appExitCode === null || st.appExitCode === undefined ? "—"
      : `${st.appExitCode}${st.appExitSpec ? " · " + st.appExitSpec.phrase : ""}`),
    st.appExitSpec && st.state === "FAILED" ? [h("dt", {}, "Why"), h("dd", {}, st.appExitSpec.reason || "")] : null);
  const logBox = h("section", { id: "logs", "aria-live": "polite" });
  const taskRows = [];
  for (const [role, r] of Object.entries(job.taskRoles || {})) {
    for (const t of r.taskStatuses || []) {
      const ports = Object.entries(t.containerPorts || {}).map(([k, v]) => `${k}:${v}`).join(" ");
      taskRows.push(h("tr", {},
        td("Task", `${role}-${t.taskIndex}`), td("State", stateBadge(t.taskState)),
        td("Node", t.containerNodeName || "—"), td("Address", t.containerIp || "—"),
        td("Ports", ports || "—"),
        td("Exit", t.containerExitCode === null || t.containerExitCode === undefined ? "—" : String(t.containerExitCode)),
        td("Logs", h("button", { class: "plain", type: "button", "data-task": `${role}-${t.taskIndex}`,
                                 onclick: () => showLogs(logBox, fw, st.attemptId || 0, role, t.taskIndex) },
                     "Logs"))));
    }
  }
  const attemptRows = (Array.isArray(attempts) ? attempts : []).map((a) => h("tr", {},
    td("Attempt", String(a.attemptIndex)), td("State", stateBadge(a.state)),
    td("Started", fmtTime(a.attemptStartedTime)), td("Ended", fmtTime(a.attemptCompletedTime)),
    td("Exit", a.exitCode === null || a.exitCode === undefined ? "—" : `${a.exitCode} ${a.exitPhrase || ""}`)));
  show(h("h1", {}, name), actions, pending, h("h2", {}, "Status"), summary,
       h("h2", {}, "Tasks"),
       h("table", { class: "cards", id: "tasks" },
         h("thead", {}, h("tr", {}, ["Task", "State", "Node", "Address", "Ports", "Exit", "Logs"].map((t) => h("th", {}, t)))),
         h("tbody", {}, taskRows)),
       taskRows.length ? null : h("p", { class: "muted" }, "No task has been placed yet."),
       logBox,
       mine && st.state === "RUNNING" ? await sshBox(name).catch(() => null) : null,
       h("h2", {}, "Attempts"),
       h("table", { class: "cards", id: "attempts" },
         h("thead", {}, h("tr", {}, ["Attempt", "State", "Started", "Ended", "Exit"].map((t) => h("th", {}, t)))),
         h("tbody", {}, attemptRows)));
  // Redrawn when this job changes; a log being followed is left alone, and
  // one being read is opened again in the new view.
  refreshView = async (changes) => {
    if (changes && !changes.some((c) => c && c.frameworkName === fw)) return;
    if (logBox.dataset.following === "1") return;
    await viewJob(ctx).catch(() => {});
  };
  if (openLog && openLog.fw === fw) {
    await showLogs(logBox, fw, st.attemptId || 0, openLog.role, openLog.index, openLog.which);
  } else {
    openLog = null;
  }
}

async function sshBox(name) {
  const info = await api("GET", `/api/v1/jobs/${enc(name)}/ssh`);
  if (!info.containers || !info.containers.length) return null;
  const keyFile = info.keyPair.privateKeyFileName;
  const download = async () => {
    try {
      const r = await api("GET", `/api/v1/jobs/${enc(name)}/ssh/key`, { raw: true });
      const url = URL.createObjectURL(await r.blob());
      const a = h("a", { href: url, download: keyFile });
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) { flash(e.message); }
  };
  return h("section", { id: "ssh" }, h("h2", {}, "SSH"),
    h("p", {}, h("button", { class: "plain", type: "button", onclick: download }, "Download the key"),
      " then (chmod 600 it):"),
    info.containers.map((c) => {
      const cmd = `ssh -i ${keyFile} -p ${c.sshPort} ${info.username}@${c.sshIp}`;
      return h("div", { class: "row" }, h("code", { class: "cmd" }, cmd),
        h("button", { class: "plain", type: "button",
                      onclick: () => navigator.clipboard.writeText(cmd).then(() => flash("Copied.", true), () => flash("Copy it by hand.")) },
          "Copy"));
    }));
}

async function showLogs(box, fw, attempt, role, index, which0) {
  if (box.stop) box.stop();
  openLog = { fw, role, index, which: which0 || "stdout" };
  const base = `/api/v2/jobs/${enc(fw)}/attempts/${attempt}/taskRoles/${enc(role)}/taskIndex/${index}/attempts/0/logs`;
  const pre = h("pre", { class: "log", id: "log-text", tabindex: "0" }, "…");
  const which = h("select", { "aria-label": "Which log" },
    ["stdout", "stderr", "all"].map((n) => h("option", { value: n, selected: n === openLog.which }, n)));
  const follow = h("input", { type: "checkbox", id: "follow" });
  let ctrl = null;
  const load = async () => {
    if (ctrl) ctrl.abort();
    openLog.which = which.value;
    ctrl = new AbortController();
    box.dataset.following = follow.checked ? "1" : "";
    const url = `${base}/${which.value}?tail-mode=true${follow.checked ? "&follow=true" : ""}`;
    try {
      const r = await api("GET", url, { raw: true, signal: ctrl.signal });
      pre.textContent = "";
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pre.append(dec.decode(value, { stream: true }));
        pre.scrollTop = pre.scrollHeight;
      }
      if (!pre.textContent) pre.textContent = "(empty)";
    } catch (e) {
      if (e.name !== "AbortError") pre.textContent = e.message;
    }
    box.dataset.following = "";
  };
  box.stop = () => { if (ctrl) ctrl.abort(); box.dataset.following = ""; };
  which.addEventListener("change", load);
  follow.addEventListener("change", load);
  box.replaceChildren(h("h2", {}, `Logs of ${role}-${index}`),
    h("div", { class: "row" }, which, h("label", { class: "check" }, follow, "Follow"),
      h("span", { class: "muted" }, "the last 16 KiB")), pre);
  await load();
}

// ---- submit -------------------------------------------------------------------------

function roleEditor(i, r = {}) {
  const num = (name, label, value, min) => field(label, h("input", { name, type: "number", min, value, required: true, size: 5 }));
  return h("fieldset", { class: "panel role", "data-role": i },
    h("legend", {}, `Task role ${i + 1}`),
    h("div", { class: "row" },
      field("Name", h("input", { name: "role", value: r.name || (i ? `role${i + 1}` : "worker"), required: true,
                                 pattern: "[A-Za-z0-9_]+", size: 10 })),
      num("instances", "Instances", r.instances || 1, 1), num("cpu", "CPUs", r.cpu || 1, 1),
      num("memoryMB", "Memory (MB)", r.memoryMB || 1024, 1), num("gpu", "GPUs", r.gpu || 0, 0),
      field("Ports (name=count …)", h("input", { name: "ports", value: r.ports || "", size: 14,
                                               placeholder: "http=1" }))),
    field("Command", h("textarea", { name: "command", required: true, rows: 3, style: { minHeight: "4rem" } },
                       r.command || "echo hello")));
}

// What this site's server suggests (config.json, written at its start).
let siteConfig = null;
async function site() {
  if (!siteConfig) {
    try { siteConfig = await (await fetch("config.json", { cache: "no-cache" })).json(); }
    catch (e) { siteConfig = {}; }
  }
  return siteConfig;
}

async function viewSubmit(ctx) {
  const [vcs, conf] = await Promise.all([vcNames(), site()]);
  const clone = ctx.params.get("clone");
  let cloned = "";
  if (clone) cloned = await api("GET", `/api/v2/jobs/${enc(clone)}/config`);
  if (!ctx.live()) return;
  const tabForm = h("button", { type: "button", role: "tab", "aria-selected": clone ? "false" : "true" }, "Form");
  const tabText = h("button", { type: "button", role: "tab", "aria-selected": clone ? "true" : "false" }, "YAML / JSON");
  const roles = h("div", { class: "roles" }, roleEditor(0));
  const form = h("form", { id: "submit-form", hidden: !!clone },
    h("div", { class: "row panel" },
      field("Job name", h("input", { name: "name", required: true, pattern: "[A-Za-z0-9_\\-]+", size: 20 })),
      field("Virtual cluster", h("select", { name: "vc" }, vcs.map((v) => h("option", { value: v }, v)))),
      field("Image", h("input", { name: "image", value: conf.defaultImage || "", required: true, size: 24,
                                  placeholder: "registry/repository:tag" })),
      field("Retries", h("input", { name: "retry", type: "number", min: 0, max: 100, value: 0, size: 4 }))),
    h("h2", {}, "Task roles"), roles,
    h("div", { class: "actions" },
      h("button", { class: "plain", type: "button",
                    onclick: () => roles.append(roleEditor(roles.children.length)) }, "Add a task role"),
      h("button", { type: "submit" }, "Submit")));
  const text = h("textarea", { id: "protocol", "aria-label": "Job protocol (YAML or JSON)", spellcheck: "false" },
                 cloned ? cloned.replace(/^("?name"?:\s*)"?([^"\n]*)"?$/m, (m, k, v) => `${k}"${v}-clone"`) : "");
  const editor = h("form", { id: "submit-text", hidden: !clone },
    h("p", { class: "muted" }, "OpenPAI's job protocol (protocolVersion 2), as YAML or JSON."), text,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Submit")));
  const switchTo = (toText) => {
    tabForm.setAttribute("aria-selected", String(!toText));
    tabText.setAttribute("aria-selected", String(toText));
    form.hidden = toText; editor.hidden = !toText;
    if (toText && !text.value && form.checkValidity()) text.value = JSON.stringify(protocolOf(form), null, 2);
  };
  tabForm.addEventListener("click", () => switchTo(false));
  tabText.addEventListener("click", () => switchTo(true));
  const submitted = (name) => {
    flash(`Job ${name} submitted.`, true, true);
    location.hash = `#/jobs/${enc(session.user + "~" + name)}`;
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const p = protocolOf(form);
      await api("POST", "/api/v2/jobs", { json: p });
      submitted(p.name);
    } catch (e) { flash(e.message); }
  });
  editor.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const src = text.value.trim();
    const isJson = src.startsWith("{");
    const m = src.match(isJson ? /"name"\s*:\s*"([^"]+)"/ : /^"?name"?\s*:\s*"?([^"\n]+?)"?\s*$/m);
    try {
      await api("POST", "/api/v2/jobs", isJson ? { text: src, headers: { "Content-Type": "application/json" } }
                                              : { text: src, headers: { "Content-Type": "text/yaml" } });
      submitted(m ? m[1] : "");
    } catch (e) { flash(e.message); }
  });
  show(h("h1", {}, clone ? `Clone of ${clone}` : "Submit a job"),
       h("div", { class: "tabs", role: "tablist" }, tabForm, tabText), form, editor);
}

// The form as a job protocol (v2): one image, the roles as entered.
function protocolOf(form) {
  const f = new FormData(form);
  const p = {
    protocolVersion: 2, name: f.get("name").trim(), type: "job",
    prerequisites: [{ type: "dockerimage", name: "image", uri: f.get("image").trim() }],
    defaults: { virtualCluster: f.get("vc") },
    taskRoles: {},
  };
  const retry = Number(f.get("retry")) || 0;
  if (retry) p.jobRetryCount = retry;
  for (const set of form.querySelectorAll("fieldset[data-role]")) {
    const v = (n) => set.querySelector(`[name=${n}]`).value;
    const ports = {};
    for (const part of v("ports").split(/[\s,]+/).filter(Boolean)) {
      const [k, n] = part.split("=");
      ports[k] = Number(n || 1);
    }
    p.taskRoles[v("role")] = {
      instances: Number(v("instances")), dockerImage: "image",
      resourcePerInstance: { cpu: Number(v("cpu")), memoryMB: Number(v("memoryMB")), gpu: Number(v("gpu")),
                             ...(Object.keys(ports).length ? { ports } : {}) },
      commands: v("command").split("\n").filter((l) => l.trim()),
    };
  }
  return p;
}

// ---- virtual clusters -----------------------------------------------------------

async function viewVcs(ctx) {
  const vcs = await api("GET", "/api/v2/virtual-clusters");
  if (!ctx.live()) return;
  const bar = (label, used, guaranteed, total) => {
    const pct = (x) => total ? Math.min(100, (100 * x) / total) : 0;
    return h("div", {}, h("div", { class: "muted" }, `${label}: ${used} used of ${total} (guaranteed ${guaranteed})`),
      h("div", { class: "bar", role: "img", "aria-label": `${label} ${used} of ${total} used, ${guaranteed} guaranteed` },
        h("div", { class: "used", style: { width: `${pct(used)}%` } }),
        h("div", { class: "guar", style: { left: `${pct(guaranteed)}%` } })));
  };
  const cards = Object.entries(vcs).sort().map(([name, v]) => h("section", { class: "panel vc", "data-vc": name },
    h("h2", {}, name),
    h("p", { class: "muted" }, `capacity ${v.capacity}% · max ${v.maxCapacity}% · ${v.numActiveJobs} active, ${v.numPendingJobs} waiting`),
    bar("CPUs", v.resourcesUsed.cpu, v.resourcesGuaranteed.cpu, v.resourcesTotal.cpu),
    bar("Memory (MB)", v.resourcesUsed.memory, v.resourcesGuaranteed.memory, v.resourcesTotal.memory),
    bar("GPUs", v.resourcesUsed.gpu, v.resourcesGuaranteed.gpu, v.resourcesTotal.gpu)));
  show(h("h1", {}, "Virtual clusters"),
       h("p", { class: "muted" }, "The bar is what runs; the dark mark what the VC is guaranteed; the end of the bar its maximum."),
       h("div", { class: "vcs" }, cards));
  refreshView = () => viewVcs(ctx).catch(() => {});
}

// ---- admin: users and the audit log ----------------------------------------------

async function viewUsers(ctx) {
  const [users, vcs] = await Promise.all([api("GET", "/api/v2/users"), vcNames()]);
  if (!ctx.live()) return;
  // The page is drawn anew before it says so: what it shows is what was done.
  const act = async (fn, done) => {
    try { await fn(); await viewUsers(ctx); flash(done, true); } catch (e) { flash(e.message); }
  };
  const name = h("input", { name: "username", required: true, size: 14, autocomplete: "off" });
  const pw = h("input", { name: "password", type: "password", required: true, size: 14, autocomplete: "new-password" });
  const admin = h("input", { name: "admin", type: "checkbox" });
  const create = h("form", { class: "panel row", id: "new-user" },
    field("User name", name), field("Password", pw), h("label", { class: "check" }, admin, "Admin"),
    h("button", { type: "submit" }, "Create"));
  create.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(() => api("PUT", "/api/v1/user", { json: { username: name.value.trim(), password: pw.value,
                                                   admin: admin.checked, modify: false } }),
        `User ${name.value.trim()} created.`);
  });
  const rows = users.map((u) => {
    const grants = h("input", { value: (u.virtualCluster || []).join(","), size: 16,
                                "aria-label": `Virtual clusters of ${u.username}`, list: "vc-names" });
    return h("tr", { "data-user": u.username },
      td("User", u.username), td("Admin", u.admin ? "yes" : "no"),
      td("Virtual clusters", h("div", { class: "row" }, grants,
        h("button", { class: "plain", type: "button",
                      onclick: () => act(() => api("PUT", `/api/v1/user/${enc(u.username)}/virtualClusters`,
                                                   { json: { virtualClusters: grants.value.replace(/\s/g, "") } }),
                                         `Virtual clusters of ${u.username} set.`) }, "Set"))),
      td("Actions", h("div", { class: "actions" },
        h("button", { class: "plain", type: "button", onclick: () => {
          const np = prompt(`New password for ${u.username}`);
          if (np) act(() => api("PUT", "/api/v1/user", { json: { username: u.username, password: np, modify: true } }),
                      `Password of ${u.username} changed.`);
        } }, "Password"),
        h("button", { class: "plain", type: "button",
                      onclick: () => act(() => api("PUT", "/api/v1/user", { json: { username: u.username, admin: !u.admin, modify: true } }),
                                         `${u.username} is ${u.admin ? "no longer" : "now"} an admin.`) },
          u.admin ? "Revoke admin" : "Make admin"),
        u.admin ? null : h("button", { class: "danger", type: "button", onclick: () => {
          if (confirm(`Delete ${u.username}?`))
            act(() => api("DELETE", "/api/v1/user", { json: { username: u.username } }), `User ${u.username} deleted.`);
        } }, "Delete"))));
  });
  show(h("h1", {}, "Users"), create,
       h("datalist", { id: "vc-names" }, vcs.map((v) => h("option", { value: v }))),
       h("table", { class: "cards", id: "users" },
         h("thead", {}, h("tr", {}, ["User", "Admin", "Virtual clusters", "Actions"].map((t) => h("th", {}, t)))),
         h("tbody", {}, rows)));
}

async function viewAudit(ctx) {
  const offset = Math.max(0, Number(ctx.params.get("offset")) || 0);
  const rows = await api("GET", `/api/v1/audit?limit=${PAGE}&offset=${offset}`);
  if (!ctx.live()) return;
  show(h("h1", {}, "Audit log"),
       h("div", { class: "pager" },
         h("a", { class: "button plain", href: `#/admin/audit?offset=${Math.max(0, offset - PAGE)}`,
                  "aria-disabled": offset === 0 ? "true" : null }, "← Newer"),
         h("span", {}, `from ${offset + 1}`),
         h("a", { class: "button plain", href: `#/admin/audit?offset=${offset + PAGE}` }, "Older →")),
       h("table", { class: "cards", id: "audit" },
         h("thead", {}, h("tr", {}, ["Time", "Who", "From", "Action", "Target", "Status", "Detail"].map((t) => h("th", {}, t)))),
         h("tbody", {}, rows.map((a) => h("tr", {},
           td("Time", fmtTime(a.time)), td("Who", a.username || "(anonymous)"), td("From", a.address),
           td("Action", a.action), td("Target", a.target), td("Status", String(a.status)),
           td("Detail", a.detail + (a.repeats > 1 ? ` (×${a.repeats})` : "")))))));
}

// ---- start ----------------------------------------------------------------------------

window.addEventListener("hashchange", route);
if (session) feed.start();
route();
