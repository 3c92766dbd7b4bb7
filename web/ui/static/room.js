// A room's page: live messages into the timeline (from live.js), the
// composer and uploads without leaving the page, and read state. Every
// form also works without this script.
const room = document.getElementById("room");
const roomID = Number(room.dataset.room);
const csrf = room.dataset.csrf;
const timeline = document.getElementById("timeline");

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) if (c) e.append(c);
  return e;
}

// The server sends message text already escaped, with links made into
// anchors; nothing else ever becomes HTML.
function render(ev) {
  const li = el("li", { id: "e" + ev.id, "data-id": ev.id, class: `event event-${ev.kind}${ev.mine ? " mine" : ""}` });
  const meta = el("p", { class: "meta" });
  if (ev.kind === "message" || ev.kind === "attachment") meta.append(el("span", { class: "author" }, ev.authorName), " ");
  meta.append(el("time", {}, ev.time));
  li.append(meta);
  if (ev.file) {
    const p = el("p", { class: "file" }, el("a", { href: ev.file.url, download: "" }, ev.file.name), " ", el("span", { class: "note" }, ev.file.size));
    li.append(p);
  } else {
    const p = el("p", { class: "text" });
    p.innerHTML = ev.html;
    li.append(p);
  }
  return li;
}

let readTimer = 0;
function markRead(id) {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    if (document.hidden) return;
    fetch(`/api/v1/rooms/${roomID}/read`, {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ event: id }),
    }).catch(() => {});
  }, 500);
}

document.addEventListener("clinicbox:event", (e) => {
  const ev = e.detail;
  if (ev.room !== roomID || document.getElementById("e" + ev.id)) return;
  const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  timeline.append(render(ev));
  if (atBottom || ev.mine) timeline.lastElementChild.scrollIntoView({ block: "end" });
  markRead(ev.id);
});
document.addEventListener("clinicbox:removed", (e) => {
  if (e.detail.room === roomID) location.href = "/rooms";
});

const composer = document.getElementById("composer");
if (composer) {
  const status = document.getElementById("composer-status");
  const text = document.getElementById("text");
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); composer.requestSubmit(); }
  });
  composer.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!text.value.trim()) return;
    status.textContent = room.dataset.msgSending;
    try {
      const res = await fetch(composer.action, {
        method: "POST", body: new URLSearchParams(new FormData(composer)),
        headers: { Accept: "application/json", "X-CSRF-Token": csrf },
      });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        status.textContent = body.error || room.dataset.msgFailed;
        return;
      }
      text.value = "";
      status.textContent = "";
    } catch {
      status.textContent = room.dataset.msgFailed;
    }
  });
}

const upload = document.getElementById("upload");
if (upload) {
  const input = document.getElementById("file");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  upload.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = input.files[0];
    if (!file) return;
    if (file.size > Number(input.dataset.max)) { status.textContent = room.dataset.msgToolarge; return; }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    bar.hidden = false;
    bar.value = 0;
    xhr.upload.addEventListener("progress", (p) => { if (p.lengthComputable) bar.value = Math.round(100 * p.loaded / p.total); });
    xhr.addEventListener("load", () => {
      bar.hidden = true;
      if (xhr.status === 201) { upload.reset(); status.textContent = ""; return; }
      try { status.textContent = JSON.parse(xhr.responseText).error; } catch { status.textContent = room.dataset.msgFailed; }
    });
    xhr.addEventListener("error", () => { bar.hidden = true; status.textContent = room.dataset.msgFailed; });
    xhr.send(new FormData(upload));
  });
}

const last = timeline.lastElementChild;
if (last) { last.scrollIntoView({ block: "end" }); markRead(Number(last.dataset.id)); }
