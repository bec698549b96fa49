// The locus observer page: renders each snapshot the server pushes (server-sent events).
// Bounded by design: one row per node, the busiest processes only, paged long lists.
"use strict";

const state = { snapshot: null, selected: null, pages: { global: 0, groups: 0, links: 0 } };
const PAGE = 50;

const el = (tag, attrs = {}, text) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
const svg = (tag, attrs = {}) => {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};
const bytes = (n) => n == null ? "–" : n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB`
  : n < 1 << 30 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / (1 << 30)).toFixed(2)} GiB`;
const duration = (ms) => { const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor(s % 3600 / 60)}m`; };
const rate = (r) => r < 1 ? "idle" : r < 1000 ? `${r.toFixed(0)}/s` : `${(r / 1000).toFixed(1)}k/s`;
const pidText = (p) => p ? `<${p.id}.${p.creation}@${p.node}>` : "–";

function renderGraph(snap) {
  const g = document.getElementById("graph");
  g.replaceChildren();
  g.classList.toggle("crowded", snap.nodes.length > 30);
  const n = snap.nodes.length;
  const r = n <= 1 ? 0 : Math.min(280, 90 + n * 12);
  const pos = new Map();
  snap.nodes.forEach((node, i) => {
    const a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
    pos.set(node.name, [r * Math.cos(a), r * Math.sin(a)]);
  });
  for (const e of snap.edges) {
    const [x1, y1] = pos.get(e.a) || [0, 0];
    const [x2, y2] = pos.get(e.b) || [0, 0];
    const line = svg("line", { x1, y1, x2, y2, class: e.frames_per_s > 100 ? "edge busy" : "edge",
      "data-edge": `${e.a}|${e.b}`, "data-state": "up" });
    const title = svg("title");
    title.textContent = `${e.a} ↔ ${e.b}: ${rate(e.frames_per_s)} frames, ${bytes(Math.round(e.bytes_per_s))}/s`;
    line.appendChild(title);
    g.appendChild(line);
    if (n <= 10) {
      const label = svg("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, class: "rate" });
      label.textContent = rate(e.frames_per_s);
      g.appendChild(label);
    }
  }
  const small = n > 30;
  for (const node of snap.nodes) {
    const [x, y] = pos.get(node.name);
    const group = svg("g", { class: "node" + (node.name === state.selected ? " selected" : ""),
      "data-node": node.name, "data-state": node.state, transform: `translate(${x},${y})` });
    group.appendChild(svg("circle", { r: small ? 7 : 16 }));
    if (!small || node.name === state.selected) {
      const label = svg("text", { y: small ? -10 : -22 });
      label.textContent = node.name;
      group.appendChild(label);
    }
    const title = svg("title");
    title.textContent = `${node.name} (${node.state})`;
    group.appendChild(title);
    group.addEventListener("click", () => select(node.name));
    g.appendChild(group);
  }
}

function renderNodes(snap) {
  const body = document.querySelector("#nodes tbody");
  body.replaceChildren();
  for (const node of snap.nodes) {
    const i = node.info;
    const row = el("tr", { "data-row": node.name });
    if (node.name === state.selected) row.className = "selected";
    row.append(el("td", {}, node.name), el("td", { class: `state-${node.state}` }, node.state),
      el("td", {}, i ? i.processes.toLocaleString() : "–"), el("td", {}, i ? bytes(i.memory_bytes) : "–"),
      el("td", {}, i ? String(i.connections.filter((c) => !c.hidden).length) : "–"),
      el("td", {}, i ? duration(i.uptime_ms) : "–"), el("td", {}, i ? String(i.overload_drops) : "–"));
    row.addEventListener("click", () => select(node.name));
    body.appendChild(row);
  }
}

function table(headers, rows) {
  const t = el("table");
  const head = el("tr");
  headers.forEach((h) => head.appendChild(el("th", {}, h)));
  t.appendChild(el("thead")).appendChild(head);
  const body = t.appendChild(el("tbody"));
  rows.forEach((r) => { const tr = el("tr"); r.forEach((c) => tr.appendChild(el("td", {}, c))); body.appendChild(tr); });
  return t;
}

function renderDetail(snap) {
  const title = document.getElementById("detail-title");
  const box = document.getElementById("detail");
  box.replaceChildren();
  const node = snap.nodes.find((n) => n.name === state.selected);
  if (!node) { title.textContent = "Select a node"; return; }
  title.textContent = `${node.name} (${node.state})`;
  const i = node.info;
  if (!i) { box.appendChild(el("p", {}, "Not answering: down, or unreachable from the observer.")); return; }
  box.appendChild(el("p", {}, `locus ${i.version}, up ${duration(i.uptime_ms)}, ${i.workers ? `${i.workers} worker threads, ` : ""}${i.processes.toLocaleString()} processes, ${bytes(i.memory_bytes)} resident`));
  box.appendChild(el("h3", {}, "Busiest processes (by mailbox)"));
  box.appendChild(table(["process", "name", "mailbox"], i.busiest.map((p) => [pidText(p.pid), p.name || "", String(p.mailbox)])));
  box.appendChild(el("h3", {}, "Connections"));
  box.appendChild(table(["peer", "frames in/out", "bytes in/out", "up since"],
    i.connections.map((c) => [c.peer + (c.hidden ? " (hidden)" : ""), `${c.frames_in} / ${c.frames_out}`,
      `${bytes(c.bytes_in)} / ${bytes(c.bytes_out)}`, new Date(c.up_since_ms).toLocaleTimeString()])));
  box.appendChild(el("h3", {}, `Registered names (${i.registered_count})`));
  box.appendChild(el("p", { class: "names" }, i.registered.slice(0, 200).join(", ") + (i.registered_count > 200 ? " …" : "")));
}

function paged(id, rows, render) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  state.pages[id] = Math.min(state.pages[id], pages - 1);
  rows.slice(state.pages[id] * PAGE, (state.pages[id] + 1) * PAGE).forEach((r) => {
    const tr = el("tr"); render(r).forEach((c) => tr.appendChild(el("td", {}, c))); body.appendChild(tr);
  });
  let pager = document.getElementById(`${id}-pager`);
  if (!pager) { pager = el("div", { id: `${id}-pager`, class: "pager" }); document.getElementById(id).after(pager); }
  pager.replaceChildren();
  if (pages > 1) {
    const prev = el("button", {}, "‹"); prev.onclick = () => { state.pages[id]--; render_all(); };
    const next = el("button", {}, "›"); next.onclick = () => { state.pages[id]++; render_all(); };
    prev.disabled = state.pages[id] === 0; next.disabled = state.pages[id] >= pages - 1;
    pager.append(prev, next, el("span", {}, `page ${state.pages[id] + 1} of ${pages} (${rows.length})`));
  }
}

function renderCluster(snap) {
  // Global names and groups as the first answering node sees them (they agree once synced).
  const up = snap.nodes.find((n) => n.info);
  const links = [...snap.edges].sort((a, b) => b.frames_per_s - a.frames_per_s);
  paged("links", links, (e) => [`${e.a} ↔ ${e.b}`, rate(e.frames_per_s), `${bytes(Math.round(e.bytes_per_s))}/s`]);
  paged("global", up ? up.info.global : [], ([name, pid]) => [name, pidText(pid)]);
  paged("groups", up ? up.info.groups : [], (g) => [g.scope, g.group, String(g.members)]);
  const events = [];
  for (const n of snap.nodes) if (n.info) for (const e of n.info.events) events.push({ ...e, at: n.name });
  events.sort((a, b) => b.at_ms - a.at_ms);
  const list = document.getElementById("events");
  list.replaceChildren();
  for (const e of events.slice(0, 100)) {
    const text = `${new Date(e.at_ms).toLocaleTimeString()} ${e.at}: ${e.up ? "nodeup" : "nodedown"} ${e.peer}${e.reason ? " (" + e.reason + ")" : ""}`;
    list.appendChild(el("li", { class: e.up ? "up" : "down" }, text));
  }
}

function render_all() {
  const snap = state.snapshot;
  if (!snap || !snap.nodes) return;
  // n2 before n10.
  snap.nodes.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  const up = snap.nodes.filter((n) => n.state === "up").length;
  document.getElementById("summary").textContent =
    `${up} of ${snap.nodes.length} nodes up, ${snap.edges.length} connections, updated ${new Date(snap.at_ms).toLocaleTimeString()}`;
  renderGraph(snap); renderNodes(snap); renderDetail(snap); renderCluster(snap);
}

function select(name) { state.selected = name; render_all(); }

function connect() {
  const status = document.getElementById("status");
  const source = new EventSource("/events");
  source.onopen = () => { status.textContent = "live"; status.dataset.live = "true"; };
  source.onmessage = (m) => { state.snapshot = JSON.parse(m.data); render_all(); };
  source.onerror = () => { status.textContent = "reconnecting…"; status.dataset.live = "false"; };
}

connect();
