// Passkeys (WebAuthn): the ceremonies of idp/mfa/passkey_views.py. Progressive enhancement:
// the passkey sections are rendered `hidden` and shown here only when the browser supports
// passkeys. A section says what it does with data-passkey ("register", "login", "verify",
// "confirm"), where to ask for options (data-options-url) and where to send the answer
// (data-submit-url), the CSRF token (data-csrf, sent as X-CSRFToken), where to go next
// (data-next), and its messages in the page's language (data-msg-*).
(() => {
  "use strict";

  if (window.sesamePasskeysLoaded) return; // several partials may load this file
  window.sesamePasskeysLoaded = true;

  // WebAuthn refuses an IP address as relying party id: on such a host (a test server, an
  // internal address) passkeys cannot work, so they are not offered at all.
  const host = window.location.hostname;
  const ipHost = /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.indexOf(":") !== -1;
  const supported =
    typeof window.PublicKeyCredential === "function" &&
    !!navigator.credentials &&
    typeof navigator.credentials.create === "function" &&
    window.isSecureContext &&
    !ipHost;

  // --- base64url <-> ArrayBuffer, for browsers without the JSON helpers ---------------------

  function toBuffer(value) {
    const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function fromBuffer(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map((d) => ({ ...d, id: toBuffer(d.id) }));
  }

  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: toBuffer(json.challenge),
      user: { ...json.user, id: toBuffer(json.user.id) },
      excludeCredentials: descriptors(json.excludeCredentials),
    };
  }

  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: toBuffer(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    };
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      try {
        return credential.toJSON();
      } catch (error) {
        // Some browsers' toJSON() fails on extension results: build it by hand below.
      }
    }
    const response = credential.response;
    const json = {
      id: credential.id,
      rawId: fromBuffer(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults
        ? credential.getClientExtensionResults()
        : {},
      response: { clientDataJSON: fromBuffer(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      json.response.attestationObject = fromBuffer(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = fromBuffer(response.authenticatorData);
      json.response.signature = fromBuffer(response.signature);
      json.response.userHandle = response.userHandle ? fromBuffer(response.userHandle) : null;
    }
    return json;
  }

  // --- talking to the IdP ---------------------------------------------------------------

  class Refused extends Error {
    constructor(message, redirect) {
      super(message);
      this.redirect = redirect;
    }
  }

  async function post(section, url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": section.dataset.csrf || "",
      },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null; // an HTML error page (expired form, server error)
    }
    if (!response.ok || data === null) {
      throw new Refused((data && data.error) || section.dataset.msgFailed, data && data.redirect);
    }
    return data;
  }

  function say(section, message, isError) {
    const status = section.querySelector("[data-passkey-status]");
    if (!status) return;
    status.textContent = message || "";
    status.classList.toggle("passkey-error", !!isError);
  }

  function explain(section, error) {
    if (error instanceof Refused) {
      say(section, error.message, true);
      if (error.redirect) window.setTimeout(() => window.location.assign(error.redirect), 1500);
      return;
    }
    const name = error && error.name;
    if (name === "AbortError") return; // we cancelled it ourselves (conditional mediation)
    if (name === "NotAllowedError") {
      say(section, section.dataset.msgCancelled, true);
    } else if (name === "InvalidStateError" && section.dataset.msgExists) {
      say(section, section.dataset.msgExists, true);
    } else {
      say(section, section.dataset.msgFailed, true);
    }
  }

  function go(data) {
    if (data && data.redirect) window.location.assign(data.redirect);
  }

  // --- the ceremonies -------------------------------------------------------------------

  function setupRegister(section) {
    const form = section.querySelector("form");
    if (!form) return;
    let busy = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (busy) return;
      const name = (form.elements.name.value || "").trim();
      busy = true;
      say(section, section.dataset.msgWorking, false);
      try {
        const options = await post(section, section.dataset.optionsUrl, {
          name,
          next: section.dataset.next,
        });
        const credential = await navigator.credentials.create({
          publicKey: creationOptions(options),
        });
        go(
          await post(section, section.dataset.submitUrl, {
            name,
            next: section.dataset.next,
            credential: credentialJSON(credential),
          }),
        );
      } catch (error) {
        explain(section, error);
      } finally {
        busy = false;
      }
    });
  }

  // An assertion (second factor, confirmation, passwordless). `mediation` is "conditional"
  // for the login page's autofill.
  async function getAssertion(section, options, mediation, signal) {
    const request = { publicKey: requestOptions(options) };
    if (mediation) request.mediation = mediation;
    if (signal) request.signal = signal;
    const credential = await navigator.credentials.get(request);
    return post(section, section.dataset.submitUrl, {
      next: section.dataset.next,
      credential: credentialJSON(credential),
    });
  }

  function setupAssertion(section) {
    const button = section.querySelector("[data-passkey-start]");
    let autofill = null; // the pending conditional request of the login page
    let autofillFailures = 0; // re-armed after a refusal, a few times at most

    async function startAutofill() {
      if (
        section.dataset.passkey !== "login" ||
        typeof PublicKeyCredential.isConditionalMediationAvailable !== "function"
      ) {
        return;
      }
      let available = false;
      try {
        available = await PublicKeyCredential.isConditionalMediationAvailable();
      } catch (error) {
        available = false;
      }
      if (!available) return;
      const input = document.getElementById(section.dataset.usernameInput || "username");
      if (input) input.setAttribute("autocomplete", "username webauthn");
      const controller = new AbortController();
      autofill = controller;
      try {
        const options = await post(section, section.dataset.optionsUrl, {});
        const answer = await getAssertion(section, options, "conditional", controller.signal);
        autofill = null;
        go(answer);
      } catch (error) {
        if (autofill !== controller) return; // replaced by the button's request
        autofill = null;
        // Autofill runs without being asked: only a refusal of the passkey the person chose
        // is worth a message (a dismissed suggestion or an unusable browser is not).
        if (error instanceof Refused) explain(section, error);
        // A refused answer (an expired challenge): offer the autofill again, a few times.
        autofillFailures += 1;
        if (error instanceof Refused && !error.redirect && autofillFailures < 3) {
          window.setTimeout(startAutofill, 500);
        }
      }
    }

    if (button) {
      let busy = false;
      button.addEventListener("click", async () => {
        if (busy) return;
        busy = true;
        if (autofill) {
          const pending = autofill;
          autofill = null;
          pending.abort();
        }
        say(section, section.dataset.msgWorking, false);
        try {
          const options = await post(section, section.dataset.optionsUrl, {
            next: section.dataset.next,
          });
          go(await getAssertion(section, options, null, null));
        } catch (error) {
          explain(section, error);
          if (!(error instanceof Refused)) startAutofill(); // cancelled: autofill again
        } finally {
          busy = false;
        }
      });
    }
    startAutofill();
  }

  function init() {
    for (const note of document.querySelectorAll("[data-passkey-unsupported]")) {
      note.hidden = supported;
    }
    if (!supported) return;
    for (const section of document.querySelectorAll("[data-passkey]")) {
      if (section.dataset.passkeyReady) continue;
      section.dataset.passkeyReady = "1";
      section.hidden = false;
      if (section.dataset.passkey === "register") setupRegister(section);
      else setupAssertion(section);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
