// Channels in the viewer (generic over every channel the service has): which evidence a search asks
// for (a select beside the mode; state.channels, read by formArgs), which channels support each card
// (badges) with its quote, and each channel's progress on the index page.
// Another channel's view adds its evidence to CHANNEL_CHOICES (and, if it quotes, to QUOTES).

// [evidence, label in the select]; "" = every enabled channel (the service's default).
const CHANNEL_CHOICES = [["", "every channel"], ["seen", "seen only (picture)"], ["said", "said only (speech)"],
  ["written", "written only (on screen)"], ["who", "who only (people named)"]];
// evidence -> (moment) => its quote text for the card, or "".
const QUOTES = { said: (m) => (m.said ? m.said.text : ""), written: (m) => (m.written ? m.written.text : ""),
  who: (m) => (m.who ? m.who.people.join(" & ") : "") };
const CHANNEL_MEDIA = { speech: "audio" }; // what a channel's seconds left are of (else video)

// Words of a text, normalised for matching (case, accents, punctuation), as in the core's word index.
const normWord = (w) => String(w).normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
const WORD_RE = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu;

// `text` as nodes with the words in `words` (a Set of normWord) inside <mark>.
function highlighted(text, words) {
  const out = [];
  let last = 0;
  for (const hit of String(text).matchAll(WORD_RE)) {
    if (!words.has(normWord(hit[0]))) continue;
    if (hit.index > last) out.push(document.createTextNode(text.slice(last, hit.index)));
    out.push(el("mark", { text: hit[0] }));
    last = hit.index + hit[0].length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

// The words to mark for a moment: the query's, and the words the core matched (its tolerant match
// may have found a spelling the query did not use).
function matchedWords(m) {
  const words = new Set();
  for (const w of String(state.text || "").matchAll(WORD_RE)) words.add(normWord(w[0]));
  for (const w of (m && m.said && m.said.words) || []) {
    for (const x of String(w.word).matchAll(WORD_RE)) words.add(normWord(x[0]));
  }
  return words;
}

function setupChannels() {
  const pick = el("select", { id: "channels", "aria-label": "which evidence to search",
    onchange: () => { state.channels = pick.value ? [pick.value] : undefined; } },
  ...CHANNEL_CHOICES.map(([v, label]) => el("option", { value: v, text: label })));
  $("#mode").after(pick);
  const mode = $("#mode");
  const sync = () => { pick.hidden = mode.value === "scenes"; };
  mode.addEventListener("change", sync);
  sync();
  $("#q").placeholder = "what is seen, said or written, e.g. a rabbit in a meadow, “we never went back”";
}

function channelBadges(out) {
  // A tool input with channels (MCP App) or a form choice: show it in the select.
  const asked = (state.args && state.args.channels) || [];
  const pick = $("#channels");
  if (pick) {
    pick.value = asked.length === 1 && CHANNEL_CHOICES.some(([v]) => v === asked[0]) ? asked[0] : "";
    state.channels = pick.value ? [pick.value] : undefined;
  }
  if (!out.channels) return; // the picture only: nothing to add
  for (const c of document.querySelectorAll("#cards .card")) {
    const m = state.items[+c.dataset.index];
    if (!m || !m.channels) continue;
    const meta = c.querySelector(".meta");
    const done = m.indexed_channels || null;
    meta.append(el("span", { class: "chans", "aria-label": `supported by: ${m.channels.join(", ")}` },
      ...m.channels.map((ch) => el("span", { class: `chan ${ch}`, "data-channel": ch, text: ch }))));
    c.dataset.channels = m.channels.join(" ");
    for (const ch of m.channels) {
      const quote = QUOTES[ch] ? QUOTES[ch](m) : "";
      if (quote) meta.append(el("span", { class: `quote ${ch}`, title: quote }, "“", ...highlighted(quote, matchedWords(m)), "”"));
    }
    // A file whose other passes are still to run may yet be said/written there: say so.
    const pending = done ? Object.keys(out.channels).filter((ch) => !done.includes(ch)) : [];
    if (pending.length) meta.append(el("span", { class: "note", text: `not yet searched here: ${pending.join(", ")}` }));
  }
}

// "speech: 120/300 files, 4.2 h of audio left" per channel of /status (every one but visual).
function channelLine(name, ch) {
  if (!ch.enabled) return `${name}: off`;
  const left = +(ch.seconds_left || 0);
  const media = CHANNEL_MEDIA[name] || "video";
  const tail = left >= 360 ? `, ${(left / 3600).toFixed(1)} h of ${media} left`
    : left > 0 ? `, ${Math.round(left / 60)} min of ${media} left` : "";
  const failed = ch.failed ? `, ${ch.failed} failed` : "";
  const held = ch.unavailable ? `, not running: ${ch.unavailable}` : "";
  return `${name}: ${ch.indexed || 0}/${ch.files || 0} files${failed}${tail}${held}`;
}

function channelProgress(st) {
  const chans = Object.entries(st.channels || {}).filter(([name]) => name !== "visual");
  if (!chans.length) return;
  $("#progress").append(el("ul", { id: "channelprogress", class: "note", "aria-label": "progress per channel" },
    ...chans.map(([name, ch]) => el("li", { "data-channel": name, class: ch.enabled ? "" : "off",
      text: channelLine(name, ch) }))));
}

HOOKS.setup.push(setupChannels);
HOOKS.result.push(channelBadges);
HOOKS.index.push(channelProgress);
