// People (faces): the People page (#people: a grid of faces, type a name to set it, select two or
// more to merge, or to find the moments where they are all on screen: shown as cards on the search
// page), a strip per person on every card whose moment says who is there (also in the MCP App), and,
// on a selected moment, the faces on its frame with each one's appearances across that video.
// The page and the faces use the service's /api/people routes (browser only); crops are fetched
// with the token into blob: URLs.

const people = { list: [], picked: new Set(), crops: new Map() };

async function peopleSend(path, body) {
  const r = await fetch(new URL(path, location.origin), {
    method: "POST", headers: { ...backend.headers(), "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (r.status === 401) { showAuth(); throw new Error("this service needs its access token"); }
  let out = null;
  try { out = await r.json(); } catch { out = null; }
  if (!r.ok) throw new Error((out && out.error) || `${r.status} ${r.statusText}`);
  return out;
}

async function faceCrop(track) {
  if (track == null) return "";
  if (!people.crops.has(track)) {
    people.crops.set(track, fetch(new URL(`/api/people/crop/${track}`, location.origin), { headers: backend.headers() })
      .then((r) => (r.ok ? r.blob() : null)).then((b) => (b ? URL.createObjectURL(b) : "")));
  }
  return people.crops.get(track);
}

function faceImg(track, label) {
  const img = el("img", { alt: `face of ${label}`, class: "face" });
  faceCrop(track).then((u) => { if (u) img.src = u; });
  return img;
}

function peopleNote(text, bad = false) {
  const n = $("#peoplenote");
  n.textContent = text;
  n.className = bad ? "note bad" : "note";
}

async function refreshPeople() {
  try {
    const res = await backend.get("/api/people");
    people.list = res.people;
    people.picked = new Set([...people.picked].filter((id) => res.people.some((p) => p.id === id)));
    $("#peoplemsg").textContent = res.message;
    renderPeople();
  } catch (e) {
    peopleNote(`cannot list people: ${e.message}`, true);
  }
}

function renderPeople() {
  $("#peoplegrid").replaceChildren(...people.list.map((p) => {
    const box = el("input", { type: "checkbox", "aria-label": `select ${p.label}`, checked: people.picked.has(p.id),
      onchange: (e) => { if (e.target.checked) people.picked.add(p.id); else people.picked.delete(p.id); pickedChanged(); } });
    const name = el("input", { type: "text", value: p.name || "", placeholder: p.label, "aria-label": `name of ${p.label}`,
      maxlength: 120 });
    const form = el("form", { class: "row small", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const got = await peopleSend(`/api/people/${p.id}/name`, { name: name.value });
        peopleNote(`named ${got.label}`);
        refreshPeople();
      } catch (err) { peopleNote(err.message, true); }
    } }, name, el("button", { type: "submit", text: "Name" }));
    return el("div", { class: "person", role: "listitem", "data-person": p.id },
      el("label", { class: "pick" }, box, faceImg(p.face_track, p.label)),
      el("div", { class: "meta" }, el("span", { class: "name", text: p.label }),
        el("span", { class: "time", text: `${p.videos} video(s) · ${p.seconds.toFixed(1)} s on screen` })),
      form);
  }));
  pickedChanged();
}

function pickedChanged() {
  const n = people.picked.size;
  $("#peoplemerge").disabled = n < 2;
  $("#peopletogether").disabled = n < 1;
  $("#peoplepicked").textContent = `${n} selected`;
}

async function mergePicked() {
  const ids = people.list.filter((p) => people.picked.has(p.id)).map((p) => p.id); // grid order: the first stays
  try {
    const got = await peopleSend("/api/people/merge", { people: ids, drop_name: $("#peopledrop").checked });
    people.picked.clear();
    peopleNote(`merged into ${got.label}`);
    refreshPeople();
  } catch (e) { peopleNote(e.message, true); }
}

function personStrip(label, spans, duration, named = true) {
  // spans, not divs: it also goes inside a card (a button)
  const bar = el("span", { class: "pstrip", role: "img", "aria-label": `${label} on screen` });
  const total = Math.max(duration || 0, ...spans.map((s) => s.end), 0.001);
  for (const s of spans) {
    bar.append(el("span", { style: `left:${(100 * s.start) / total}%;width:${Math.max(0.5, (100 * (s.end - s.start)) / total)}%`,
      title: `${label}: ${span(s.start, s.end)}` }));
  }
  return named ? el("span", { class: "pstriprow" }, el("span", { class: "plabel", text: label }), bar) : bar;
}

async function togetherPicked() {
  const names = people.list.filter((p) => people.picked.has(p.id)).map((p) => p.label);
  try {
    const res = await backend.get("/api/people/together", { person: names });
    location.hash = "#search"; // the moments as cards, like any search, each with a strip per person
    state.args = { limit: 50 };
    render({ ...res, concepts: null }, {}, "find_scenes"); // nothing seen was asked: no "all of" line
  } catch (e) { peopleNote(e.message, true); }
}

// On every result's cards (browser and MCP App): who is there together, a strip per person.
function whoOnCards() {
  for (const c of document.querySelectorAll("#cards .card")) {
    const m = state.items[+c.dataset.index];
    if (!m || !m.who || !m.who.strips) continue;
    const all = Object.values(m.who.strips).flat();
    const end = Math.max(m.end, ...all.map((s) => s.end));
    const score = c.querySelector(".score");
    const seen = (m.channels || []).includes("seen") || Object.keys(m.concepts || {}).length > 0;
    if (score && !seen) score.textContent = "found by faces";
    c.querySelector(".meta").append(el("span", { class: "who" },
      ...Object.entries(m.who.strips).map(([label, spans]) => personStrip(label, spans, end))));
  }
}

function setupPeople() {
  if (MODE !== "browser") return;
  $("nav").append(el("a", { href: "#people", id: "nav-people", text: "People" }));
  const page = el("section", { id: "peoplepage", "aria-label": "people", hidden: true },
    el("p", { id: "peoplemsg", class: "note" }),
    el("div", { class: "row small", role: "group", "aria-label": "selected people" },
      el("span", { id: "peoplepicked", text: "0 selected" }),
      el("button", { type: "button", id: "peoplemerge", disabled: true, onclick: mergePicked,
        title: "the selected people are one person (the first keeps its name)", text: "Merge selected" }),
      el("label", {}, el("input", { type: "checkbox", id: "peopledrop" }), " drop the other names"),
      el("button", { type: "button", id: "peopletogether", class: "ghost", disabled: true, onclick: togetherPicked,
        text: "Find together" })),
    el("p", { id: "peoplenote", class: "note", role: "status", "aria-live": "polite" }),
    el("div", { id: "peoplegrid", role: "list", "aria-label": "people found" }));
  $("main").append(page);
  const onRoute = (p) => {
    page.hidden = p !== "people";
    if (p === "people") refreshPeople();
  };
  onRoute.page = "people";
  HOOKS.route.push(onRoute);
}

let peopleOn = null; // asked once per page: is the people channel on?
function peopleEnabled() {
  if (peopleOn === null) peopleOn = backend.get("/api/people", { limit: 1 }).then((r) => r.enabled).catch(() => false);
  return peopleOn;
}

// The selected moment: who is on its frame, and where each of them appears across the video.
async function facesOnFrame(m, detail) {
  if (MODE !== "browser") return;
  let box = detail.querySelector("#faces");
  if (!box) {
    box = el("div", { id: "faces", role: "list", "aria-label": "faces on this frame" });
    detail.append(box);
  }
  box.replaceChildren();
  if (!(await peopleEnabled())) return; // the channel is off: no faces row, no requests
  let res;
  try {
    res = await backend.get("/api/people/faces", { video: m.video_id, t: m.peak });
  } catch { return; } // the channel is off, or nothing found: no faces row
  if (state.selected !== m) return;
  const seen = new Set();
  for (const f of res.faces) {
    if (f.person_id == null || seen.has(f.person_id)) continue;
    seen.add(f.person_id);
    const row = el("div", { class: "faceon", role: "listitem", "data-person": f.person_id },
      faceImg(f.track, f.label), el("span", { class: "name", text: f.label }));
    box.append(row);
    backend.get("/api/people/strip", { person: f.person_id, video: m.video_id })
      .then((s) => { if (state.selected === m) row.append(personStrip(f.label, s.spans, 0, false)); }).catch(() => {});
  }
}

HOOKS.setup.push(setupPeople);
HOOKS.select.push(facesOnFrame);
HOOKS.result.push(whoOnCards);
