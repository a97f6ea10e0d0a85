// On-screen text (the text channel, evidence "written"): the selected moment's line is boxed over the
// picture where the record says it is (box: fractions 0..1 of the frame), and named under the player.

function writtenParts(detail) {
  let box = document.getElementById("writtenbox");
  if (!box) {
    box = el("div", { id: "writtenbox", class: "writtenbox", role: "img" });
    detail.querySelector(".player").append(box);
  }
  let note = document.getElementById("writtennote");
  if (!note) {
    note = el("p", { id: "writtennote", class: "note" });
    detail.querySelector(".player").append(note);
  }
  return { box, note };
}

function showWritten(m, detail) {
  const { box, note } = writtenParts(detail);
  const w = m && m.written;
  box.hidden = note.hidden = !w;
  delete box.dataset.placed;
  if (!w) return;
  box.dataset.box = w.box.join(",");
  box.title = w.text;
  box.setAttribute("aria-label", `on screen: ${w.text}`);
  note.textContent = `on screen ${span(w.start, w.end)}: “${w.text}”`;
  placeWritten();
}

function placeWritten() {
  // The picture inside the <video> element is letterboxed (object-fit: contain): place the box on it.
  const box = document.getElementById("writtenbox");
  const video = document.getElementById("video");
  const m = state.selected;
  if (!box || box.hidden || !video || !m || !m.written) return;
  const vw = video.videoWidth, vh = video.videoHeight, cw = video.clientWidth, ch = video.clientHeight;
  if (!vw || !vh || !cw || !ch) return; // placed once the video's size is known (loadedmetadata)
  const s = Math.min(cw / vw, ch / vh);
  const dw = vw * s, dh = vh * s;
  const ox = video.offsetLeft + video.clientLeft + (cw - dw) / 2;
  const oy = video.offsetTop + video.clientTop + (ch - dh) / 2;
  const [x0, y0, x1, y1] = m.written.box;
  Object.assign(box.style, { left: `${ox + x0 * dw}px`, top: `${oy + y0 * dh}px`,
    width: `${(x1 - x0) * dw}px`, height: `${(y1 - y0) * dh}px` });
  box.dataset.placed = "1";
}

HOOKS.setup.push(() => {
  const video = document.getElementById("video");
  video.addEventListener("loadedmetadata", placeWritten);
  window.addEventListener("resize", placeWritten);
  if (window.ResizeObserver) new ResizeObserver(placeWritten).observe(video);
});
HOOKS.select.push(showWritten);
