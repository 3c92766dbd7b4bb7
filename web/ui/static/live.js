// The box's live connection: one WebSocket per tab. It reports whether
// the person is using the tab (idle after some minutes without input) and
// updates presence marks on the page ([data-presence-user]). It reconnects
// after a drop with a growing delay; the server sends a fresh snapshot on
// every connect, so nothing is missed.
const IDLE_AFTER_MS = 5 * 60 * 1000;

const labels = document.body.dataset;
let socket = null;
let idle = false;
let idleTimer = 0;
let retry = 1000;

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
    send({ type: "activity", idle });
  });
  socket.addEventListener("message", (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    if (msg.type === "presence") setPresence(msg.user, msg.status);
  });
  socket.addEventListener("close", (ev) => {
    if (ev.code === 1008) return; // the session ended: the next page load asks for a login
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 30000);
  });
}

for (const ev of ["pointerdown", "keydown", "scroll", "touchstart", "focus"]) {
  window.addEventListener(ev, active, { passive: true });
}
document.addEventListener("visibilitychange", () => { if (!document.hidden) active(); });
active();
connect();
