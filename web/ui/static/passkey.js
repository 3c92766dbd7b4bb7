// Passkeys (WebAuthn) for the code, enrolment and passkeys pages.
//
// Each page has a hidden element [data-passkey="login"|"register"] with
// the session's CSRF token and its texts in data-msg-<code> attributes
// (the server renders them in the page's language; nothing here is
// translated). It appears only when the browser can use passkeys; a
// [data-passkey-fallback] note stays in its place otherwise.
//
// The server's JSON carries binary values as base64url; the WebAuthn API
// wants ArrayBuffers: the helpers below convert both ways.

const b64url = {
  decode(s) {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  },
  encode(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

function creationOptions(json) {
  const o = json.publicKey;
  o.challenge = b64url.decode(o.challenge);
  o.user.id = b64url.decode(o.user.id);
  for (const c of o.excludeCredentials || []) c.id = b64url.decode(c.id);
  return o;
}

function requestOptions(json) {
  const o = json.publicKey;
  o.challenge = b64url.decode(o.challenge);
  for (const c of o.allowCredentials || []) c.id = b64url.decode(c.id);
  return o;
}

// credentialJSON is the PublicKeyCredential as the server parses it.
function credentialJSON(cred) {
  const r = cred.response;
  const out = {
    id: cred.id,
    rawId: b64url.encode(cred.rawId),
    type: cred.type,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    response: { clientDataJSON: b64url.encode(r.clientDataJSON) },
  };
  if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
  if (r.attestationObject) {
    out.response.attestationObject = b64url.encode(r.attestationObject);
    if (r.getTransports) out.response.transports = r.getTransports();
  }
  if (r.authenticatorData) {
    out.response.authenticatorData = b64url.encode(r.authenticatorData);
    out.response.signature = b64url.encode(r.signature);
    if (r.userHandle) out.response.userHandle = b64url.encode(r.userHandle);
  }
  return out;
}

class Refused extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

async function post(url, csrf, body) {
  const res = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  let data = {};
  try {
    data = await res.json();
  } catch {
    // not JSON: an error page; the code below names it "failed"
  }
  if (!res.ok) throw new Refused(data.code || "failed");
  return data;
}

// codeOf turns a browser's or the server's refusal into a message code.
function codeOf(err) {
  if (err instanceof Refused) return err.code;
  switch (err && err.name) {
    case "NotAllowedError":
    case "AbortError":
      return "cancelled"; // the user said no, or no passkey was found, or it timed out
    case "InvalidStateError":
      return "exists"; // this authenticator already holds a passkey for the account
    case "SecurityError":
      return "use-name"; // the RP ID does not match the page's host (an address)
    default:
      return "failed";
  }
}

function setup(box) {
  const mode = box.dataset.passkey;
  const csrf = box.dataset.csrf;
  const button = box.querySelector("[data-passkey-start]");
  const status = box.querySelector("[data-passkey-status]");
  const say = (code, isError) => {
    status.textContent = box.getAttribute("data-msg-" + code) || box.getAttribute("data-msg-failed");
    status.classList.toggle("alert", isError);
    status.setAttribute("role", isError ? "alert" : "status");
  };

  button.addEventListener("click", async () => {
    button.disabled = true;
    say("working", false);
    try {
      if (mode === "login") {
        const opts = await post("/api/v1/passkeys/login/begin", csrf, {});
        const cred = await navigator.credentials.get({ publicKey: requestOptions(opts) });
        const done = await post("/api/v1/passkeys/login/finish", csrf, {
          credential: credentialJSON(cred),
          next: box.dataset.next || "",
        });
        location.assign(done.redirect);
        return;
      }
      const input = box.querySelector("input[name=label]");
      const opts = await post("/api/v1/passkeys/register/begin", csrf, { label: input ? input.value : "" });
      const cred = await navigator.credentials.create({ publicKey: creationOptions(opts) });
      const done = await post("/api/v1/passkeys/register/finish", csrf, { credential: credentialJSON(cred) });
      if (done.recovery_codes) {
        showRecoveryCodes(done.recovery_codes);
        return;
      }
      location.assign(done.redirect);
    } catch (err) {
      say(codeOf(err), true);
      button.disabled = false;
      button.focus();
    }
  });

  box.hidden = false;
  for (const note of document.querySelectorAll("[data-passkey-fallback]")) note.hidden = true;
}

// showRecoveryCodes replaces the enrolment page with the codes issued for
// the new passkey, shown once.
function showRecoveryCodes(codes) {
  const section = document.getElementById("passkey-recovery");
  const list = document.getElementById("recovery-codes");
  for (const c of codes) {
    const li = document.createElement("li");
    const code = document.createElement("code");
    code.textContent = c;
    li.append(code);
    list.append(li);
  }
  const main = section.parentElement;
  main.replaceChildren(main.querySelector("h1"), section);
  section.hidden = false;
  document.getElementById("passkey-recovery-h").focus();
}

if (window.PublicKeyCredential && navigator.credentials) {
  for (const box of document.querySelectorAll("[data-passkey]")) setup(box);
}
