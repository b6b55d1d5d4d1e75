// The passkey ceremonies of the hosted login: its one script, loaded with
// the page's CSP nonce, no inline handlers. It asks the server to begin a
// ceremony (posting the page's CSRF token), hands the options to
// navigator.credentials, posts the authenticator's answer back and goes
// where the server says. Binary values travel as base64url, as the
// server's WebAuthn library reads and writes them.
"use strict";
(() => {
  const root = document.getElementById("passkey");
  if (!root) return;
  const button = document.getElementById("passkey-start");
  const status = document.getElementById("passkey-status");
  const csrf = root.querySelector('input[name="csrf"]').value;
  const register = root.hasAttribute("data-register");

  const show = (message) => { status.textContent = message; };

  if (!window.PublicKeyCredential || !navigator.credentials) {
    show(status.dataset.unsupported);
    return;
  }

  const bytes = (text) => {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  };

  const text = (buffer) => {
    const b = new Uint8Array(buffer);
    let bin = "";
    for (let i = 0; i < b.length; i++) bin += String.fromCharCode(b[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  // withBuffers turns the base64url values of PublicKeyCredentialCreation-
  // or RequestOptions into the ArrayBuffers the browser wants.
  const withBuffers = (pk) => {
    pk.challenge = bytes(pk.challenge);
    if (pk.user) pk.user.id = bytes(pk.user.id);
    for (const list of [pk.allowCredentials, pk.excludeCredentials]) {
      for (const c of list || []) c.id = bytes(c.id);
    }
    return pk;
  };

  // serialize is the JSON of a PublicKeyCredential (WebAuthn L3 toJSON).
  const serialize = (cred) => {
    const r = cred.response;
    const response = { clientDataJSON: text(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = text(r.attestationObject);
      if (typeof r.getTransports === "function") response.transports = r.getTransports();
    } else {
      response.authenticatorData = text(r.authenticatorData);
      response.signature = text(r.signature);
      if (r.userHandle) response.userHandle = text(r.userHandle);
    }
    const out = { id: cred.id, rawId: text(cred.rawId), type: cred.type, response,
      clientExtensionResults: cred.getClientExtensionResults() };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    return JSON.stringify(out);
  };

  // Refused carries the server's message for a refusal ("" for none).
  class Refused extends Error {}

  const post = async (url, fields) => {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: new URLSearchParams({ csrf, ...fields }),
    });
    let data = {};
    try { data = await res.json(); } catch (_) { /* not JSON: the page's own message */ }
    if (!res.ok) throw new Refused(typeof data.error === "string" ? data.error : "");
    return data;
  };

  // Only a path of this site is followed.
  const go = (next) => {
    if (typeof next !== "string" || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) throw new Refused("");
    window.location.assign(next);
  };

  let busy = false;
  button.addEventListener("click", async () => {
    if (busy) return;
    busy = true;
    button.disabled = true;
    show("");
    try {
      const begun = await post(root.dataset.begin, {});
      const publicKey = withBuffers(begun.options.publicKey);
      const cred = register
        ? await navigator.credentials.create({ publicKey })
        : await navigator.credentials.get({ publicKey });
      if (!cred) throw new Refused("");
      const fields = { credential: serialize(cred) };
      if (begun.ceremony) fields.ceremony = begun.ceremony;
      const done = await post(root.dataset.finish, fields);
      go(done.next);
      return; // the button stays disabled while the next page loads
    } catch (e) {
      // A refusal's own words, or one message for the rest (cancelled,
      // timed out, no matching key, offline).
      show(e instanceof Refused && e.message ? e.message : status.dataset.failed);
    }
    busy = false;
    button.disabled = false;
  });
  button.hidden = false;
})();
