// The box's live connection: one WebSocket per tab. It reports whether
// the person is using the tab (idle after some minutes without input),
// updates presence marks on the page ([data-presence-user]) and hands room
// events to the page as "clinicbox:event" DOM events. After a drop it
// reconnects with a growing delay and resumes from the last event id it
// saw, so no message is lost and none comes twice.
const IDLE_AFTER_MS = 5 * 60 * 1000;

const labels = document.body.dataset;
let socket = null;
let idle = false;
let idleTimer = 0;
let retry = 1000;
// The last room event seen: from the page (the newest event it shows)
// and then from the stream.
let lastEvent = Number(document.getElementById("room")?.dataset.last || 0);

function setPresence(userID, status) {
  for (const el of document.querySelectorAll(`[data-presence-user="${userID}"]`)) {
    el.dataset.status = status;
    const text = el.querySelector(".presence-text");
    if (text) text.textContent = labels["presence" + status[0].toUpperCase() + status.slice(1)] || status;
  }
}

function send(msg) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
}

function active() {
  if (idle) {
    idle = false;
    send({ type: "activity", idle: false });
  }
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    idle = true;
    send({ type: "activity", idle: true });
  }, IDLE_AFTER_MS);
}

function connect() {
  socket = new WebSocket(`wss://${location.host}/api/v1/live`);
  socket.addEventListener("open", () => {
    retry = 1000;
    send({ type: "resume", after: lastEvent });
    send({ type: "activity", idle });
  });
  socket.addEventListener("message", (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    if (msg.type === "presence") setPresence(msg.user, msg.status);
    if (msg.type === "event") {
      lastEvent = Math.max(lastEvent, msg.event.id);
      document.dispatchEvent(new CustomEvent("clinicbox:event", { detail: msg.event }));
    }
    if (msg.type === "read" || msg.type === "removed") {
      document.dispatchEvent(new CustomEvent("clinicbox:" + msg.type, { detail: msg }));
    }
  });
  socket.addEventListener("close", (ev) => {
    if (ev.code === 1008) return; // the session ended: the next page load asks for a login
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 30000);
  });
}

// A page (or a test) can ask for a fresh connection, e.g. after the
// network changed; it resumes like after any drop.
document.addEventListener("clinicbox:reconnect", () => socket && socket.close());

for (const ev of ["pointerdown", "keydown", "scroll", "touchstart", "focus"]) {
  window.addEventListener(ev, active, { passive: true });
}
document.addEventListener("visibilitychange", () => { if (!document.hidden) active(); });
active();
connect();
