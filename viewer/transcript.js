// What is said, in the viewer: the selected moment's transcript lines (the query's words marked; a
// click on a line plays from there) and, on each heat strip, marks where the query is said.
// Browser: GET /api/transcript; MCP App: the get_transcript tool through the host.

const TRANSCRIPT_PAD = 5; // seconds of context before and after the moment
const SAID_MARK = "#00e5ff"; // the strip's said marks: a colour the heat palette never uses

BrowserBackend.prototype.transcript = function (video, from, to) {
  return this.get("/api/transcript", { video, from: (+from).toFixed(3), to: (+to).toFixed(3) });
};
AppBackend.prototype.transcript = async function (video, from, to) {
  return (await this.call("get_transcript", { video, t_from: +from, t_to: +to })).structuredContent;
};

let transcriptToken = 0;
async function showTranscript(m, detail) {
  let box = $("#transcript");
  if (!box) {
    box = el("section", { id: "transcript", "aria-label": "what is said" });
    detail.append(box);
  }
  const mine = ++transcriptToken;
  box.replaceChildren(el("h3", { text: "Said" }), el("p", { class: "note", text: "transcript…" }));
  box.dataset.state = "loading";
  const from = Math.max(0, m.start - TRANSCRIPT_PAD), to = m.end + TRANSCRIPT_PAD;
  let tr;
  try {
    tr = await backend.transcript(m.video_id, from, to);
  } catch (e) {
    if (mine === transcriptToken) {
      box.replaceChildren(el("h3", { text: "Said" }), el("p", { class: "note", text: `transcript not available: ${e.message}` }));
      box.dataset.state = "error";
    }
    return;
  }
  if (mine !== transcriptToken) return;
  const words = matchedWords(m);
  const lines = tr.segments.map((s) => {
    const inside = s.start < m.end && s.end > m.start;
    return el("li", {}, el("button", { type: "button", class: `line${inside ? " in" : ""}`, "data-start": s.start,
      "data-end": s.end, title: `play from ${hms(s.start)}${s.source ? ` · ${s.source}` : ""}`,
      onclick: () => playLine(m, s) },
    el("small", { text: hms(s.start) }), el("span", {}, ...highlighted(s.text, words))));
  });
  const why = tr.speech !== "indexed" ? `speech ${tr.speech}${tr.note ? `: ${tr.note}` : ""}` : tr.note || "";
  box.replaceChildren(el("h3", { text: "Said" }),
    lines.length ? el("ol", { class: "lines", role: "list" }, ...lines)
      : el("p", { class: "note", text: `nothing said in ${span(from, to)}${why ? ` (${why})` : ""}` }));
  if (tr.truncated) box.append(el("p", { class: "note", text: "more lines than one answer holds: select a shorter span" }));
  box.dataset.state = "ready";
  resized();
}

// Play from a line: seek the video there; where only a preview clip of the moment plays (the MCP
// App, or a browser that cannot play the original) and the line is outside it, select the line as
// a moment of its own (its own preview clip).
function playLine(m, s) {
  const video = $("#video");
  const clipOnly = MODE === "mcp-app" || String(video.currentSrc).includes("/clip/");
  if (clipOnly && (s.start < m.start || s.start >= Math.min(m.end, m.start + MAX_CLIP))) {
    select({ rank: 0, video_id: m.video_id, path: m.path, name: m.name, start: s.start,
      end: Math.max(s.end, s.start + 1), peak: s.start, score: m.score, z: m.z, channels: ["said"] });
    return;
  }
  seekTo(s.start, null);
  markLine(s.start);
}

// The line being played (the video's own time mapped back to the footage's time).
function markLine(t) {
  for (const b of document.querySelectorAll("#transcript .line")) {
    b.setAttribute("aria-current", String(+b.dataset.start <= t && t < +b.dataset.end));
  }
}

function followVideo() {
  const video = $("#video");
  video.addEventListener("timeupdate", () => {
    const offset = +(video.dataset.offset || 0), start = +(video.dataset.start || 0);
    markLine(video.currentTime - offset + start); // the inverse of seekTo's mapping
  });
}

// Marks under the strip at every matched word's time of the result's said moments in this video.
function saidMarks({ g, tl, W, bot, dpr }) {
  const d = tl.duration || 1;
  const times = [];
  for (const m of state.items) {
    if (m.video_id !== tl.video_id || !m.said) continue;
    const ws = m.said.words && m.said.words.length ? m.said.words : [{ start: m.said.start }];
    for (const w of ws) times.push(w.start);
  }
  g.fillStyle = SAID_MARK;
  for (const t of times) {
    const x = Math.round((t / d) * W);
    g.fillRect(x - dpr, bot - 7 * dpr, 3 * dpr, 7 * dpr);
  }
  state.saidMarks = state.saidMarks || {};
  state.saidMarks[tl.video_id] = times; // for tests and debugging (the pixels are the proof)
}

HOOKS.setup.push(followVideo);
HOOKS.select.push(showTranscript);
HOOKS.strip.push(saidMarks);
