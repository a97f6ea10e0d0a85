// reelfind viewer: one script for two homes (see viewer/__init__.py).
//   data-mode="browser": talks to the reelfind service with fetch (/api/*, signed /media, /frame, /clip).
//   data-mode="mcp-app": runs in a host's sandboxed iframe and talks MCP Apps JSON-RPC over postMessage
//                        (ui/initialize, tool input/result notifications, tools/call through the host).
// No network beyond those, no dependencies, no build step.
// One file of ~660 lines on purpose: the app must load as a single self-contained script inside a
// host iframe (inlined into the ui:// resource) with no bundler; sections below are marked by comments.

const MODE = document.documentElement.dataset.mode || "browser";
const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v; // CSSOM: allowed by the page's CSP (a style attribute is not)
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of kids) if (c !== null && c !== undefined) e.append(c);
  return e;
};

export function hms(t) {
  t = Math.max(0, Math.floor(Number(t) || 0));
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}
const span = (a, b) => `${hms(a)}–${hms(b)}`;
const baseName = (p) => String(p || "").split("/").pop();
const MAX_CLIP = 15;

// -- backends --------------------------------------------------------------------------------------

class BrowserBackend {
  constructor() {
    this.token = sessionStorage.getItem("reelfind-token") || "";
  }
  headers() { return this.token ? { Authorization: `Bearer ${this.token}` } : {}; }
  async get(path, params = {}) {
    const u = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params)) {
      if (Array.isArray(v)) v.forEach((x) => u.searchParams.append(k, x));
      else if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
    }
    const r = await fetch(u, { headers: this.headers() });
    if (r.status === 401) { showAuth(); throw new Error("this service needs its access token"); }
    let body = null;
    try { body = await r.json(); } catch { body = null; }
    if (!r.ok) throw new Error((body && (body.error || body.detail)) || `${r.status} ${r.statusText}`);
    return body;
  }
  async search(a) { return { out: await this.get("/api/search", { q: a.query, exclude: a.exclude, path: a.path_glob, limit: a.limit, channels: a.channels }) }; }
  async scenes(a) { return { out: await this.get("/api/scenes", { concept: a.all_of, path: a.path_glob, limit: a.limit }) }; }
  async timeline(video, q) { return this.get("/api/timeline", { video, q }); }
  async thumb(item) { return item.thumb_url || this.frameAt(item.video_id, item.peak); }
  async frameAt(video, t, tl) {
    const base = tl && tl.frame_url;
    if (base) return `${base}${base.includes("?") ? "&" : "?"}t=${(+t).toFixed(3)}`;
    const f = await this.get("/api/frames", { video, start: t, end: t + 0.001 });
    return f.frames.length ? f.frames[0].url : "";
  }
  async frames(m) { return (await this.get("/api/frames", { video: m.video_id, start: m.start, end: m.end })).frames; }
  async play(m) {
    const links = m.media_url ? m : await this.get("/api/links", { video: m.video_id, start: m.start, end: m.end });
    return { src: links.media_url, offset: m.start, fallback: links.clip_url, note: "original file" };
  }
}

class AppBackend {
  constructor() {
    this.id = 0;
    this.pending = new Map();
    this.cache = new Map();
    this.handlers = {};
    window.addEventListener("message", (e) => this.onMessage(e));
  }
  send(msg) { window.parent.postMessage({ jsonrpc: "2.0", ...msg }, "*"); }
  request(method, params) {
    const id = ++this.id;
    this.send({ id, method, params });
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }
  notify(method, params) { this.send({ method, params }); }
  onMessage(e) {
    if (e.source !== window.parent) return;
    const m = e.data;
    if (!m || m.jsonrpc !== "2.0") return;
    if (m.id !== undefined && !m.method) {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(m.error.message || "request failed"));
      else p.resolve(m.result);
      return;
    }
    const h = this.handlers[m.method];
    let result = {};
    try { if (h) result = h(m.params || {}) || {}; } catch (err) { console.warn(err); }
    if (m.id !== undefined) this.send({ id: m.id, result });
  }
  async call(name, args) {
    const res = await this.request("tools/call", { name, arguments: args });
    if (!res) throw new Error(`${name}: no result`);
    if (res.isError) {
      const t = (res.content || []).filter((c) => c.type === "text").map((c) => c.text).join(" ");
      throw new Error(t || `${name} failed`);
    }
    return res;
  }
  async search(a) { const r = await this.call("search_footage", { ...a, thumbnails: Math.min(10, a.limit || 10) }); return { out: r.structuredContent, images: imagesByRank(r) }; }
  async scenes(a) { const r = await this.call("find_scenes", { ...a, thumbnails: Math.min(10, a.limit || 10) }); return { out: r.structuredContent, images: imagesByRank(r) }; }
  async timeline(video, query) { return (await this.call("score_timeline", { video, query, max_points: 400, peaks: 5, thumbnails: 0 })).structuredContent; }
  async thumb(item) { return item._img || this.frameAt(item.video_id, item.peak); }
  frameAt(video, t) {
    const key = `${video}@${(+t).toFixed(3)}`;
    if (!this.cache.has(key)) {
      const p = this.call("get_frame", { video, time: Math.max(0, +t) }).then((r) => {
        const img = (r.content || []).find((c) => c.type === "image");
        return img ? `data:${img.mimeType || img.mime_type};base64,${img.data}` : "";
      });
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
    }
    return this.cache.get(key);
  }
  preview(m) {
    const start = Math.max(0, m.start), end = Math.min(m.end, start + MAX_CLIP);
    const key = `clip:${m.video_id}@${start}-${end}`;
    if (!this.cache.has(key)) {
      const p = this.call("preview_clip", { video: m.video_id, start, end: Math.max(end, start + 0.5) });
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
    }
    return this.cache.get(key);
  }
  async frames(m) {
    const r = await this.preview(m);
    return ((r.structuredContent || {}).frames || []).map((f) => ({ ...f, url: null }));
  }
  async play(m) {
    const r = await this.preview(m);
    const res = (r.content || []).find((c) => c.type === "resource" && c.resource && c.resource.blob);
    if (!res) throw new Error("the preview clip did not come back");
    const sc = r.structuredContent || {};
    return { src: `data:${res.resource.mimeType};base64,${res.resource.blob}`, offset: 0,
      note: `preview clip ${span(sc.start, sc.end)}, ${sc.width}×${sc.height}` };
  }
}

function imagesByRank(res) {
  // Tool results carry "#<rank> ..." / "peak <k>: ..." captions, each followed by its image.
  const out = {};
  const c = res.content || [];
  for (let i = 0; i + 1 < c.length; i++) {
    if (c[i].type !== "text" || c[i + 1].type !== "image") continue;
    const m = /^#(\d+) |^peak (\d+):/.exec(c[i].text);
    if (m) out[+(m[1] || m[2])] = `data:${c[i + 1].mimeType || c[i + 1].mime_type};base64,${c[i + 1].data}`;
  }
  return out;
}

const backend = MODE === "mcp-app" ? new AppBackend() : new BrowserBackend();

// Each channel's view (transcript.js, ...) adds its functions here; app.js calls them at these points.
const HOOKS = {
  setup: [], // () once, before the app starts
  result: [], // (out) after a result is rendered
  select: [], // (m, detailElement) when a moment is selected
  strip: [], // ({ g, tl, W, top, bot, dpr }) after a heat strip is drawn: overlays on it
  index: [], // (status, videos) after the index page is rendered
  route: [], // (page) after the browser page changed; a hook's `.page` names a page of its own (#people)
};
const runHooks = (name, ...args) => {
  for (const f of HOOKS[name]) {
    try { f(...args); } catch (e) { console.error(`viewer ${name} hook`, e); }
  }
};

// -- state and rendering ---------------------------------------------------------------------------

const state = { kind: null, text: null, out: null, items: [], selected: null, args: {}, tool: null,
  timelines: new Map(), limit: 12 };
window.reelfindViewer = state; // for tests and debugging

function setVerdict(match, message, extra) {
  const v = $("#verdict");
  v.replaceChildren();
  if (!match) return;
  const label = { good: "Good match", weak: "Weak match", none: "No good match", error: "Error", busy: "Searching…" }[match] || match;
  const msg = String(message || "").replace(new RegExp(`^${label}[:.]\\s*`, "i"), "");
  v.append(el("div", { class: `verdict ${match}`, "data-match": match }, el("b", { text: label }),
    el("span", { text: msg }), extra ? el("span", { class: "q", text: extra }) : null));
}

function showError(err) {
  setVerdict("error", String(err && err.message ? err.message : err));
}

function itemsOf(out) {
  if (out.moments) return out.moments;
  if (out.scenes) return out.scenes;
  if (out.points) {
    return out.peaks.map((p, i) => ({ rank: i + 1, video_id: out.video_id, path: out.path, name: out.name,
      start: p.start, end: p.end, peak: p.time, score: p.score, z: p.z, thumb_url: p.thumb_url }));
  }
  return [];
}

function textQueryOf(out, tool) {
  if (out.points) return out.query;
  if (out.concepts) return out.concepts[0];
  if (tool === "similar_moments" || tool === "search_by_image") return null;
  if (!out.query || out.query === "<image>" || / @ [\d.]+s$/.test(out.query)) return null;
  return out.query;
}

function render(out, images = {}, tool = null) {
  state.out = out;
  state.tool = tool;
  state.items = itemsOf(out).map((m) => ({ ...m, name: m.name || baseName(m.path), _img: images[m.rank] }));
  state.text = textQueryOf(out, tool);
  state.timelines = new Map();
  const what = out.points ? `“${out.query}” in ${out.name}` : out.concepts ? `all of: ${out.concepts.join(" + ")}`
    : out.query ? `“${out.query}”${out.exclude ? ` without “${out.exclude}”` : ""}` : "";
  setVerdict(out.match, out.message, what);
  const cards = $("#cards");
  cards.replaceChildren();
  cards.classList.toggle("nomatch", out.match === "none" && state.items.length > 0);
  state.items.forEach((m, i) => cards.append(card(m, i)));
  $("#more").hidden = !(out.moments || out.scenes) || state.items.length < (state.args.limit || state.limit);
  $("#detail").hidden = true;
  drawTimelines(out);
  runHooks("result", out);
  resized();
}

function card(m, i) {
  const img = el("img", { alt: `${m.name} at ${hms(m.peak)}`, width: 320, height: 180 });
  const b = el("button", { class: "card", type: "button", role: "listitem", "aria-pressed": "false",
    "data-video-id": m.video_id, "data-start": m.start, "data-index": i,
    onclick: () => select(m), onkeydown: (e) => cardKeys(e, i) },
  img,
  el("span", { class: "meta" },
    el("span", { class: "rank", text: `#${m.rank}` }),
    el("span", { class: "name", text: m.name, title: m.path }),
    el("span", { class: "time", text: span(m.start, m.end) }),
    el("span", { class: "score", text: `score ${(+m.score).toFixed(3)} · z ${m.z}` })));
  backend.thumb(m).then((src) => { if (src) img.src = src; }).catch(() => { img.alt = "frame not available"; });
  return b;
}

function cardKeys(e, i) {
  const cards = [...document.querySelectorAll("#cards .card")];
  const cols = Math.max(1, Math.round($("#cards").clientWidth / (cards[0]?.clientWidth || 1)));
  const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[e.key];
  if (step) { e.preventDefault(); cards[Math.min(cards.length - 1, Math.max(0, i + step))].focus(); }
}

// -- timelines (heat strips) -----------------------------------------------------------------------

const STOPS = [[0, [13, 8, 41]], [0.25, [74, 18, 107]], [0.5, [163, 48, 126]], [0.75, [240, 108, 58]], [1, [252, 253, 191]]];
function heat(x) {
  x = Math.min(1, Math.max(0, x));
  for (let i = 1; i < STOPS.length; i++) {
    const [b, cb] = STOPS[i], [a, ca] = STOPS[i - 1];
    if (x <= b) {
      const f = (x - a) / (b - a);
      return `rgb(${ca.map((c, k) => Math.round(c + f * (cb[k] - c))).join(",")})`;
    }
  }
  return "rgb(252,253,191)";
}

async function drawTimelines(out) {
  const box = $("#timelines");
  box.replaceChildren();
  if (out.points) { addTimeline(out); return; }
  if (!state.text) return;
  const vids = [...new Set(state.items.map((m) => m.video_id))].slice(0, 6);
  const text = state.text;
  for (const vid of vids) {
    const holder = el("div", { class: "tl", "data-video-id": vid }, el("h3", { text: "timeline…" }));
    box.append(holder);
    backend.timeline(vid, text).then((tl) => {
      if (state.text !== text) return;
      addTimeline(tl, holder);
    }).catch((e) => { holder.replaceChildren(el("h3", { text: `timeline not available: ${e.message}` })); });
  }
}

function addTimeline(tl, holder) {
  holder = holder || el("div", { class: "tl", "data-video-id": tl.video_id });
  if (!holder.isConnected) $("#timelines").append(holder);
  state.timelines.set(tl.video_id, tl);
  const canvas = el("canvas", { tabindex: 0, role: "img", "aria-label":
    `score timeline of ${tl.name} for “${tl.query}”: arrow keys move, Enter plays from there` });
  holder.replaceChildren(
    el("h3", {}, el("span", { text: tl.name }), el("small", { text: `“${tl.query}” · ${tl.match} · ${tl.frames} frames` })),
    canvas, el("div", { class: "axis" }, el("span", { text: hms(0) }), el("span", { text: hms(tl.duration) })));
  const ctx = { tl, canvas, cursor: -1 };
  const redraw = () => drawStrip(ctx);
  new ResizeObserver(redraw).observe(canvas);
  redraw();
  const idxAt = (clientX) => {
    const r = canvas.getBoundingClientRect();
    const t = ((clientX - r.left) / r.width) * tl.duration;
    return pointAt(tl, t);
  };
  canvas.addEventListener("mousemove", (e) => { ctx.cursor = idxAt(e.clientX); redraw(); hover(ctx, e.clientX, e.clientY); });
  canvas.addEventListener("mouseleave", () => { ctx.cursor = -1; redraw(); $("#hover").hidden = true; });
  canvas.addEventListener("click", (e) => { selectPoint(tl, idxAt(e.clientX)); });
  canvas.addEventListener("blur", () => { $("#hover").hidden = true; });
  canvas.addEventListener("keydown", (e) => {
    const n = tl.points.length;
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      e.preventDefault();
      ctx.cursor = Math.min(n - 1, Math.max(0, (ctx.cursor < 0 ? 0 : ctx.cursor) + (e.key === "ArrowRight" ? 1 : -1)));
      redraw();
      const r = canvas.getBoundingClientRect();
      const p = tl.points[ctx.cursor];
      hover(ctx, r.left + ((p.start + p.end) / 2 / tl.duration) * r.width, r.top + r.height / 2);
    } else if ((e.key === "Enter" || e.key === " ") && ctx.cursor >= 0) {
      e.preventDefault();
      selectPoint(tl, ctx.cursor);
    }
  });
  resized();
}

function pointAt(tl, t) {
  let best = 0;
  for (let i = 0; i < tl.points.length; i++) if (tl.points[i].start <= t) best = i;
  return best;
}

function drawStrip(ctx) {
  const { tl, canvas } = ctx;
  const dpr = window.devicePixelRatio || 1;
  const W = Math.max(10, Math.round(canvas.clientWidth * dpr)), H = Math.round(46 * dpr);
  canvas.width = W; canvas.height = H;
  const g = canvas.getContext("2d");
  const d = tl.duration || 1;
  const zmax = Math.max(tl.background.good_z, ...tl.points.map((p) => p.z));
  const top = 8 * dpr, bot = H - 4 * dpr;
  g.fillStyle = heat(0);
  g.fillRect(0, top, W, bot - top);
  for (const p of tl.points) {
    const x0 = (p.start / d) * W, x1 = Math.max(x0 + 1, (p.end / d) * W);
    g.fillStyle = heat(Math.max(0, p.z) / zmax);
    g.fillRect(x0, top, x1 - x0, bot - top);
  }
  // moments of this video, bracketed; the selected one in the accent colour
  for (const m of state.items.filter((m) => m.video_id === tl.video_id)) {
    const sel = state.selected && state.selected.video_id === m.video_id && state.selected.start === m.start;
    g.strokeStyle = sel ? "#6aa8ff" : "rgba(255,255,255,.9)";
    g.lineWidth = (sel ? 3 : 2) * dpr;
    const a = (m.start / d) * W, b = Math.max(a + 3 * dpr, (m.end / d) * W), k = 4 * dpr;
    g.beginPath();
    g.moveTo(a + k, top + 1); g.lineTo(a + 1, top + 1); g.lineTo(a + 1, bot - 1); g.lineTo(a + k, bot - 1);
    g.moveTo(b - k, top + 1); g.lineTo(b - 1, top + 1); g.lineTo(b - 1, bot - 1); g.lineTo(b - k, bot - 1);
    g.stroke();
  }
  // peaks: white triangles above the strip
  g.fillStyle = "#ffffff";
  for (const p of tl.peaks) {
    const x = (p.time / d) * W;
    g.beginPath(); g.moveTo(x - 4 * dpr, 0); g.lineTo(x + 4 * dpr, 0); g.lineTo(x, top - 1); g.closePath(); g.fill();
  }
  runHooks("strip", { g, tl, W, top, bot, dpr });
  if (ctx.cursor >= 0) {
    const p = tl.points[ctx.cursor];
    g.fillStyle = "rgba(106,168,255,.55)";
    g.fillRect((p.start / d) * W, top, Math.max(2 * dpr, ((p.end - p.start) / d) * W), bot - top);
  }
  canvas.dataset.drawn = String(tl.points.length);
}

let hoverToken = 0;
function hover(ctx, x, y) {
  const { tl } = ctx;
  const p = tl.points[ctx.cursor];
  if (!p) return;
  const box = $("#hover");
  box.hidden = false;
  box.style.left = `${Math.min(window.innerWidth - 210, Math.max(4, x - 100))}px`;
  box.style.top = `${Math.max(4, y - 150)}px`;
  box.querySelector("span").textContent = `${hms(p.start)} · z ${p.z}`;
  const mine = ++hoverToken;
  // In the MCP App each new frame is a tool call through the host: wait for the pointer to rest.
  const fetchFrame = () => backend.frameAt(tl.video_id, p.start, tl).then((src) => {
    if (mine === hoverToken && src) box.querySelector("img").src = src;
  }).catch(() => {});
  if (MODE === "mcp-app") setTimeout(() => { if (mine === hoverToken) fetchFrame(); }, 150);
  else fetchFrame();
}

function selectPoint(tl, i) {
  const p = tl.points[i];
  if (!p) return;
  const inside = state.items.find((m) => m.video_id === tl.video_id && m.start <= p.start && p.start < m.end);
  select(inside || { rank: 0, video_id: tl.video_id, path: tl.path, name: tl.name, start: p.start,
    end: Math.min(tl.duration, p.start + 10), peak: p.start, score: p.score, z: p.z });
}

// -- the selected moment: filmstrip and playback ---------------------------------------------------

let selectToken = 0;
async function select(m) {
  state.selected = m;
  const mine = ++selectToken;
  for (const c of document.querySelectorAll("#cards .card")) {
    c.setAttribute("aria-pressed", String(c.dataset.videoId === m.video_id && +c.dataset.start === m.start));
  }
  for (const tl of state.timelines.values()) {
    const canvas = document.querySelector(`.tl[data-video-id="${tl.video_id}"] canvas`);
    if (canvas) drawStrip({ tl, canvas, cursor: -1 });
  }
  const detail = $("#detail");
  detail.hidden = false;
  if (MODE === "browser") detail.scrollIntoView({ block: "nearest" });
  $("#detail-title").textContent = `${m.name} · ${span(m.start, m.end)}`;
  const video = $("#video");
  const note = $("#playnote");
  note.textContent = MODE === "mcp-app" ? "making a preview clip…" : "";
  video.removeAttribute("src");
  video.dataset.start = m.start;
  video.dataset.offset = "";
  filmstrip(m, mine);
  runHooks("select", m, detail);
  try {
    const p = await backend.play(m);
    if (mine !== selectToken || !p.src) return;
    startVideo(video, p.src, p.offset, p.fallback);
    note.textContent = p.note || "";
  } catch (e) {
    if (mine === selectToken) note.textContent = `cannot play: ${e.message}`;
  }
  resized();
}

function startVideo(video, src, offset, fallback) {
  video.dataset.offset = offset;
  video.onerror = () => {
    if (fallback && video.dataset.fellBack !== src) {
      video.dataset.fellBack = src;
      $("#playnote").textContent = "this browser cannot play the original file: playing a preview clip";
      startVideo(video, fallback, 0, null);
    }
  };
  video.onloadedmetadata = () => {
    if (offset > 0) video.currentTime = offset;
    video.play().catch(() => {});
  };
  video.src = src;
  video.load();
}

async function filmstrip(m, mine) {
  const strip = $("#filmstrip");
  strip.replaceChildren();
  let frames;
  try { frames = await backend.frames(m); } catch (e) { return; }
  if (mine !== selectToken) return;
  frames = frames.slice(0, 12);
  for (const f of frames) {
    const img = el("img", { alt: `frame at ${hms(f.start)}`, height: 64 });
    const b = el("button", { type: "button", role: "listitem", title: `play from ${hms(f.start)}`,
      onclick: () => seekTo(f.start, b) }, img, el("small", { text: hms(f.start) }));
    strip.append(b);
    const src = f.url || (await backend.frameAt(m.video_id, f.start).catch(() => ""));
    if (mine !== selectToken) return;
    if (src) img.src = src;
  }
  resized();
}

function seekTo(t, button) {
  const video = $("#video");
  const offset = +(video.dataset.offset || 0), start = +(video.dataset.start || 0);
  const target = offset > 0 || MODE === "browser" ? offset + (t - start) : t - start;
  video.currentTime = Math.max(0, target);
  video.play().catch(() => {});
  for (const b of document.querySelectorAll("#filmstrip button")) b.setAttribute("aria-current", String(b === button));
}

// -- search form -----------------------------------------------------------------------------------

function formArgs() {
  const mode = $("#mode").value;
  const path = $("#path").value.trim() || undefined;
  const limit = state.limit;
  if (mode === "scenes") {
    const all = $("#allof").value.split(",").map((s) => s.trim()).filter(Boolean);
    const q = $("#q").value.trim();
    return { mode, args: { all_of: q ? [q, ...all] : all, path_glob: path, limit } };
  }
  return { mode, args: { query: $("#q").value.trim(), exclude: $("#exclude").value.trim() || undefined, path_glob: path, limit,
    channels: state.channels } }; // state.channels: set by channels.js (undefined: every enabled channel)
}

async function runSearch(mode, args) {
  state.args = args;
  setVerdict("busy", "");
  $("#cards").replaceChildren();
  $("#timelines").replaceChildren();
  $("#detail").hidden = true;
  $("#video").removeAttribute("src");
  try {
    const { out, images } = mode === "scenes" ? await backend.scenes(args) : await backend.search(args);
    render(out, images || {}, mode === "scenes" ? "find_scenes" : "search_footage");
  } catch (e) { showError(e); }
}

function setupForm() {
  const mode = $("#mode");
  const sync = () => { $("#allof").hidden = mode.value !== "scenes"; $("#exclude").hidden = mode.value === "scenes"; };
  mode.addEventListener("change", sync);
  sync();
  const submit = (e) => {
    e.preventDefault();
    state.limit = 12;
    const { mode: m, args } = formArgs();
    if (m === "scenes" ? !args.all_of.length : !args.query) { $("#q").focus(); return; }
    runSearch(m, args);
  };
  $("#searchform").addEventListener("submit", submit);
  // A host's iframe sandboxed without allow-forms never submits a form: the button and Enter search.
  $("#go").addEventListener("click", submit);
  $("#searchform").addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target.tagName === "INPUT") submit(e); });
  $("#morebtn").addEventListener("click", () => {
    state.limit = Math.min(200, (state.args.limit || 12) * 2);
    runSearch(state.out && state.out.scenes ? "scenes" : "search", { ...state.args, limit: state.limit });
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && !/INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName)) { e.preventDefault(); $("#q").focus(); }
  });
}

function prefill(args) {
  if (!args) return;
  if (args.query) $("#q").value = args.query;
  if (args.exclude) $("#exclude").value = args.exclude;
  if (args.path_glob) $("#path").value = args.path_glob;
  if (args.all_of || args.description) {
    $("#mode").value = "scenes";
    $("#mode").dispatchEvent(new Event("change"));
    const all = [...(args.description ? [args.description] : []), ...(args.all_of || [])];
    $("#q").value = all[0] || "";
    $("#allof").value = all.slice(1).join(", ");
  }
  if (args.limit) state.limit = args.limit;
  state.args = args;
}

// -- browser: pages, token, index page -------------------------------------------------------------

function showAuth() {
  $("#auth").hidden = false;
  $("#token").focus();
}

function route() {
  const own = ["index", ...HOOKS.route.map((f) => f.page)]; // pages: search, index, and the parts' (people.js)
  const page = own.includes(location.hash.slice(1)) ? location.hash.slice(1) : "search";
  $("#searchpage").hidden = page !== "search";
  $("#indexpage").hidden = page !== "index";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#${page}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (page === "index") refreshIndex();
  runHooks("route", page);
}

let indexTimer = null;
let fileState = "";
let fileOffset = 0; // the page of the file list shown; its size is the server's (query.max_limit)
async function refreshIndex() {
  clearTimeout(indexTimer);
  if ($("#indexpage").hidden) return;
  try {
    const [st, vids] = await Promise.all([backend.get("/api/status"), backend.get("/api/videos", { state: fileState, offset: fileOffset })]);
    renderIndex(st, vids);
  } catch (e) {
    $("#progress").textContent = `status not available: ${e.message}`;
  }
  indexTimer = setTimeout(refreshIndex, 2000);
}

function renderIndex(st, vids) {
  const c = st.counts || {};
  const cur = st.current || (st.progress && st.progress.current_path ? { path: st.progress.current_path,
    t: st.progress.current_t, duration: st.progress.current_duration } : null);
  const frac = cur && cur.duration ? Math.min(1, cur.t / cur.duration) : 0;
  const prog = $("#progress");
  prog.replaceChildren(
    el("div", { text: st.status || (cur ? `indexing ${baseName(cur.path)}` : "idle") }),
    el("div", { class: "note", text: `${c.indexed || 0} indexed · ${c.failed || 0} failed · ${c.pending || 0} pending`
      + ` · ${c.unavailable || 0} unavailable · ${st.vectors ?? "?"} frame vectors`
      + (st.queue ? ` · ${st.queue.queued} queued, ${st.queue.settling} settling` : "") }));
  if (cur) prog.append(el("div", { class: "bar-outer" }, el("div", { class: "bar-inner", style: `width:${Math.round(frac * 100)}%` })));
  const roots = $("#roots");
  roots.replaceChildren(...(st.roots || []).map((r) => {
    const path = typeof r === "string" ? r : r.path;
    const online = typeof r === "string" ? true : r.present;
    return el("li", { class: online ? "online" : "offline" }, el("span", { text: path }),
      el("span", { class: "note", text: online ? ` — online${r.watch ? ` (${r.watch})` : ""}` : " — OFFLINE (files kept, marked unavailable)" }));
  }));
  const failed = $("#failed tbody");
  failed.replaceChildren(...(st.failed || []).map((f) => el("tr", { "data-path": f.path },
    el("td", { class: "path", text: f.path }), el("td", { text: f.reason || "" }), el("td", { text: f.attempts ?? "" }))));
  for (const v of vids.videos.filter((v) => v.state !== "failed" && v.note)) {
    failed.append(el("tr", { "data-path": v.path }, el("td", { class: "path", text: v.path }),
      el("td", { text: `indexed with a problem: ${v.note}` }), el("td", { text: "" })));
  }
  const sf = $("#statefilter");
  sf.replaceChildren(...["", "indexed", "pending", "indexing", "failed"].map((s) => el("button", {
    type: "button", class: s === fileState ? "" : "ghost", "aria-pressed": String(s === fileState),
    text: s ? `${s} (${c[s] || 0})` : `all (${vids.total})`, onclick: () => { fileState = s; fileOffset = 0; refreshIndex(); } })));
  const last = Math.min(vids.offset + vids.videos.length, vids.total);
  $("#filepages").replaceChildren(
    el("button", { type: "button", class: "ghost", text: "‹ previous", disabled: vids.offset <= 0 ? "" : null,
      onclick: () => { fileOffset = Math.max(0, vids.offset - vids.limit); refreshIndex(); } }),
    el("span", { class: "note", text: vids.total ? ` files ${vids.offset + 1}–${last} of ${vids.total} ` : " no files " }),
    el("button", { type: "button", class: "ghost", text: "next ›", disabled: last >= vids.total ? "" : null,
      onclick: () => { fileOffset = vids.offset + vids.limit; refreshIndex(); } }));
  $("#files tbody").replaceChildren(...vids.videos.map((v) => el("tr", {},
    el("td", { class: "path", text: v.path }), el("td", {}, el("span", { class: `state ${v.state}`, text: v.unavailable ? `${v.state}, offline` : v.state })),
    el("td", { text: v.duration == null ? "" : hms(v.duration) }), el("td", { text: v.frames }),
    el("td", { text: v.error || v.note || "" }))));
  runHooks("index", st, vids);
}

function setupBrowser() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("token")) {
    sessionStorage.setItem("reelfind-token", params.get("token"));
    backend.token = params.get("token");
    history.replaceState(null, "", `${location.pathname}${location.search}#search`);
  }
  $("#authform").addEventListener("submit", (e) => {
    e.preventDefault();
    backend.token = $("#token").value.trim();
    sessionStorage.setItem("reelfind-token", backend.token);
    $("#auth").hidden = true;
    route();
  });
  window.addEventListener("hashchange", route);
  route();
  const q = new URLSearchParams(location.search).get("q");
  if (q) { $("#q").value = q; runSearch("search", { query: q, limit: state.limit }); }
  $("#q").focus();
}

// -- MCP App: the host protocol --------------------------------------------------------------------

let lastSize = "";
function resized() {
  if (MODE !== "mcp-app") return;
  const s = `${document.documentElement.scrollWidth}x${document.documentElement.scrollHeight}`;
  if (s === lastSize) return;
  lastSize = s;
  backend.notify("ui/notifications/size-changed", { width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight });
}

function applyHostContext(ctx) {
  if (!ctx) return;
  if (ctx.theme) document.documentElement.dataset.theme = ctx.theme;
  const vars = ctx.styles && ctx.styles.variables;
  if (vars) for (const [k, v] of Object.entries(vars)) if (v) document.documentElement.style.setProperty(k, v);
  if (ctx.toolInfo && ctx.toolInfo.tool) state.tool = ctx.toolInfo.tool.name;
}

async function setupApp() {
  setVerdict("busy", "waiting for the tool result");
  backend.handlers["ui/notifications/tool-input"] = (p) => prefill(p.arguments);
  backend.handlers["ui/notifications/tool-input-partial"] = () => {};
  backend.handlers["ui/notifications/tool-result"] = (res) => {
    if (res.isError) { showError(new Error((res.content || []).map((c) => c.text || "").join(" "))); return; }
    const out = res.structuredContent;
    if (!out) { showError(new Error("the tool result has no structured content")); return; }
    render(out, imagesByRank(res), state.tool);
  };
  backend.handlers["ui/notifications/tool-cancelled"] = (p) => setVerdict("error", `cancelled${p.reason ? `: ${p.reason}` : ""}`);
  backend.handlers["ui/notifications/host-context-changed"] = (ctx) => applyHostContext(ctx);
  backend.handlers["ui/resource-teardown"] = () => ({});
  new ResizeObserver(resized).observe(document.body);
  try {
    const init = await backend.request("ui/initialize", { protocolVersion: "2026-01-26",
      appInfo: { name: "reelfind-viewer", version: "0.1.0" }, appCapabilities: { availableDisplayModes: ["inline"] } });
    applyHostContext(init && init.hostContext);
  } catch (e) { console.warn("ui/initialize failed", e); }
  backend.notify("ui/notifications/initialized", {});
}

// -- export: pick cards, download them as EDL / FCP7 XML / FCPXML / OTIO / CSV (browser page only) ---
// Picks are kept by video id + start + end across searches; GET /api/export answers the file
// (moment=VIDEO@START-END per pick, daemon/export_route.py), downloaded through a blob URL.

const picks = new Map();
const pickKey = (m) => `${m.video_id}@${(+m.start).toFixed(3)}-${(+m.end).toFixed(3)}`;

function markPicks() {
  for (const c of document.querySelectorAll("#cards .card")) {
    const m = state.items[+c.dataset.index];
    c.classList.toggle("picked", !!m && picks.has(pickKey(m)));
  }
  $("#pickcount").textContent = `${picks.size} picked`;
  $("#exportbtn").disabled = picks.size === 0;
  $("#exportbar").hidden = picks.size === 0 && state.items.length === 0;
}

function togglePick(m) {
  if (!m) return;
  const k = pickKey(m);
  if (picks.has(k)) picks.delete(k); else picks.set(k, m);
  markPicks();
}

async function exportPicks() {
  const note = $("#exportnote");
  const fmt = $("#exportformat").value;
  const u = new URL("/api/export", location.origin);
  u.searchParams.set("format", fmt);
  if (state.text) u.searchParams.set("label", state.text);
  for (const m of picks.values()) u.searchParams.append("moment", `${m.video_id}@${(+m.start).toFixed(3)}-${(+m.end).toFixed(3)}`);
  note.textContent = "exporting…";
  try {
    const r = await fetch(u, { headers: backend.headers() });
    if (r.status === 401) { showAuth(); throw new Error("this service needs its access token"); }
    if (!r.ok) { let b = null; try { b = await r.json(); } catch { b = null; } throw new Error((b && b.error) || `${r.status}`); }
    const cd = r.headers.get("content-disposition") || "";
    const star = /filename\*=UTF-8''([^;]+)/.exec(cd);
    const name = star ? decodeURIComponent(star[1]) : `reelfind.${fmt}`;
    const url = URL.createObjectURL(await r.blob());
    const a = el("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    note.textContent = `${name}: ${decodeURIComponent(r.headers.get("x-reelfind-message") || "")}`;
  } catch (e) {
    note.textContent = `export failed: ${e.message}`;
  }
}

function setupExport() {
  $("#pick").addEventListener("click", () => togglePick(state.selected));
  $("#pickall").addEventListener("click", () => { for (const m of state.items) picks.set(pickKey(m), m); markPicks(); });
  $("#pickclear").addEventListener("click", () => { picks.clear(); markPicks(); });
  $("#exportbtn").addEventListener("click", exportPicks);
  new MutationObserver(markPicks).observe($("#cards"), { childList: true });
  markPicks();
}

