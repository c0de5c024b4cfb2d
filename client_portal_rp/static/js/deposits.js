/* « Déposez vos documents »: the form sends each file in its own request (XMLHttpRequest, two
   at a time) so that every file shows its own progress on a slow mobile network, and a file
   refused (too large, wrong type) does not stop the others. Without this script the form is a
   plain multipart POST. Texts come from the form's data-msg-* attributes (translated by the
   page); the CSRF token is the form's own field, sent first, and the X-CSRFToken header.

   The offline queue (deposit-queue.js, ADR 0026): each file gets its Idempotency-Key when it
   is chosen, sent with its request; a file chosen while offline, or whose request fails on a
   network error, goes to the queue with that same key (sent once more, it cannot be deposited
   twice) and is listed in « En attente d'envoi » until it is sent. */
(function () {
  "use strict";

  var form = document.querySelector("form.deposit-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) {
    return;
  }
  // The chosen files show in the list below: the browser's own "no file chosen" text can go.
  form.classList.add("enhanced");
  var list = form.querySelector("[data-upload-list]");
  var zone = form.querySelector("[data-drop-zone]");
  var fileInputs = form.querySelectorAll("input[type=file]");
  var submit = form.querySelector("button[type=submit]");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
  var CONCURRENCY = 2;
  var entries = [];
  var running = 0;
  var queue = window.PortalDepositQueue || null;
  var company = form.getAttribute("data-company");
  var owner = document.body.getAttribute("data-user") || "";
  var panel = document.querySelector("[data-deposit-queue]");

  function msg(name) {
    return form.getAttribute("data-msg-" + name) || "";
  }

  function token() {
    var field = form.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  function setStatus(entry, text, state) {
    entry.status.textContent = text;
    entry.item.className = "upload-item upload-" + state;
    entry.state = state;
  }

  function setProgress(entry, fraction) {
    var percent = Math.round(fraction * 100);
    entry.bar.value = percent;
    entry.percent.textContent = percent + " %";
  }

  function addFile(file) {
    var item = document.createElement("li");
    var name = document.createElement("span");
    var bar = document.createElement("progress");
    var percent = document.createElement("span");
    var status = document.createElement("span");
    var remove = document.createElement("button");
    name.className = "upload-name";
    name.textContent = file.name;
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    percent.className = "upload-percent";
    percent.textContent = "0 %";
    status.className = "upload-status";
    remove.type = "button";
    remove.className = "link-button upload-remove";
    remove.textContent = msg("remove");
    item.appendChild(name);
    item.appendChild(bar);
    item.appendChild(percent);
    item.appendChild(status);
    item.appendChild(remove);
    list.appendChild(item);
    var entry = {
      file: file, item: item, bar: bar, percent: percent, status: status, state: "",
      key: queue ? queue.newKey() : null,
    };
    remove.addEventListener("click", function () {
      if (entry.state === "waiting" || entry.state === "error") {
        entries.splice(entries.indexOf(entry), 1);
        list.removeChild(item);
      }
    });
    entries.push(entry);
    if (maxBytes && file.size > maxBytes) {
      setStatus(entry, "« " + file.name + " » " + msg("too-large"), "error");
      entry.state = "refused";
    } else {
      setStatus(entry, msg("waiting"), "waiting");
    }
  }

  function addFiles(files) {
    for (var i = 0; i < files.length; i += 1) {
      addFile(files[i]);
    }
  }

  Array.prototype.forEach.call(fileInputs, function (input) {
    input.addEventListener("change", function () {
      addFiles(input.files);
      input.value = ""; // the files are in the list now, sent by this script
    });
  });

  if (zone) {
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.add("drop-active");
      });
    });
    ["dragleave", "dragend"].forEach(function (type) {
      zone.addEventListener(type, function () {
        zone.classList.remove("drop-active");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("drop-active");
      if (event.dataTransfer && event.dataTransfer.files) {
        addFiles(event.dataTransfer.files);
      }
    });
  }

  function formFields() {
    var data = new FormData();
    data.append("csrf_token", token()); // first: checked before the file is written
    Array.prototype.forEach.call(form.elements, function (element) {
      if (!element.name || element.type === "file" || element.name === "csrf_token") {
        return;
      }
      data.append(element.name, element.value);
    });
    return data;
  }

  function answerMessage(xhr) {
    try {
      var answer = JSON.parse(xhr.responseText);
      if (answer.results && answer.results.length) {
        return { ok: answer.results[0].ok, text: answer.results[0].message, duplicate: answer.results[0].duplicate };
      }
      return { ok: false, text: answer.message || msg("failed") };
    } catch (error) {
      return { ok: false, text: msg("failed") };
    }
  }

  function send(entry) {
    running += 1;
    setStatus(entry, msg("sending"), "sending");
    var data = formFields();
    data.append("documents", entry.file, entry.file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", token());
    if (entry.key) {
      xhr.setRequestHeader("Idempotency-Key", entry.key);
    }
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) {
        setProgress(entry, event.loaded / event.total);
      }
    });
    xhr.addEventListener("load", function () {
      var answer = answerMessage(xhr);
      if (xhr.status >= 200 && xhr.status < 300 && answer.ok) {
        setProgress(entry, 1);
        setStatus(entry, msg("sent") + (answer.text ? " — " + answer.text : ""),
          answer.duplicate ? "duplicate" : "sent");
      } else {
        setStatus(entry, answer.text, "error");
      }
      finished();
    });
    xhr.addEventListener("error", function () {
      if (queue && owner) { // the network failed: the file waits in the queue, same key
        enqueue([entry]).then(finished, function () {
          setStatus(entry, msg("failed"), "error");
          finished();
        });
        return;
      }
      setStatus(entry, msg("failed"), "error");
      finished();
    });
    xhr.addEventListener("abort", function () {
      setStatus(entry, msg("failed"), "error");
      finished();
    });
    xhr.send(data);
  }

  function next() {
    while (running < CONCURRENCY) {
      var waiting = entries.filter(function (entry) { return entry.state === "waiting"; });
      if (!waiting.length) {
        break;
      }
      send(waiting[0]);
    }
    if (running === 0) {
      submit.disabled = false;
      showDone();
    }
  }

  function finished() {
    running -= 1;
    next();
  }

  function showDone() {
    var sent = entries.filter(function (entry) {
      return entry.state === "sent" || entry.state === "duplicate";
    });
    if (!sent.length) {
      return;
    }
    var done = form.querySelector(".upload-done");
    if (!done) {
      done = document.createElement("p");
      done.className = "upload-done";
      var link = document.createElement("a");
      link.href = form.getAttribute("data-list-url");
      link.textContent = msg("done");
      done.appendChild(link);
      list.parentNode.insertBefore(done, list.nextSibling);
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var waiting = entries.filter(function (entry) { return entry.state === "waiting"; });
    if (!waiting.length) {
      if (!entries.length) {
        var item = document.createElement("li");
        item.className = "upload-item upload-error";
        item.textContent = msg("none");
        list.appendChild(item);
      }
      return;
    }
    if (queue && owner && navigator.onLine === false) {
      enqueue(waiting);
      return;
    }
    submit.disabled = true;
    next();
  });

  // --- the offline queue -----------------------------------------------------------------

  function field(name) {
    var element = form.elements[name];
    return element && element.value ? element.value : "";
  }

  function enqueue(chosen) {
    var saved = chosen.map(function (entry) {
      entry.state = "queued";
      return queue.add({
        key: entry.key,
        owner: owner,
        company: company,
        url: form.action,
        type: field("type"),
        comment: field("comment"),
        pieceRequest: field("piece_request"),
        name: entry.file.name,
        blob: entry.file,
        size: entry.file.size,
        created: new Date().toISOString(),
      }).then(function () {
        setStatus(entry, msg("queued"), "queued");
      });
    });
    return Promise.all(saved).then(function () {
      renderQueue();
      askForSync();
    });
  }

  function askForSync() {
    if (!navigator.serviceWorker) {
      return;
    }
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) {
        return registration.sync.register(queue.syncTag(company));
      }
      return null;
    }).catch(function () { /* no Background Sync: the page sends on `online` */ });
  }

  function panelMsg(name) {
    return panel.getAttribute("data-msg-" + name) || "";
  }

  function renderQueue() {
    if (!queue || !panel) {
      return Promise.resolve();
    }
    return queue.all().then(function (items) {
      var mine = items.filter(function (item) {
        return item.company === company && item.owner === owner;
      });
      var waiting = mine.filter(function (item) { return item.state === "waiting"; });
      var list = panel.querySelector("[data-queue-list]");
      list.textContent = "";
      mine.forEach(function (item) {
        var row = document.createElement("li");
        var name = document.createElement("span");
        var state = document.createElement("span");
        row.className = "queue-item queue-" + item.state;
        name.className = "queue-name";
        name.textContent = item.name;
        state.className = "badge queue-state";
        state.textContent = panelMsg(item.state === "refused" ? "refused" : "waiting");
        row.appendChild(name);
        row.appendChild(state);
        if (item.state === "refused") {
          var why = document.createElement("p");
          why.className = "queue-message";
          why.textContent = item.message;
          var remove = document.createElement("button");
          remove.type = "button";
          remove.className = "link-button";
          remove.textContent = panelMsg("remove");
          remove.addEventListener("click", function () {
            queue.remove(item.key).then(renderQueue);
          });
          row.appendChild(why);
          row.appendChild(remove);
        }
        list.appendChild(row);
      });
      var count = panel.querySelector("[data-queue-count]");
      count.textContent = panelMsg(waiting.length === 1 ? "one" : "many")
        .replace("{n}", String(waiting.length));
      panel.querySelector("[data-queue-send]").hidden = !waiting.length;
      if (mine.length) {
        panel.hidden = false;
      } else if (!panel.querySelector("[data-queue-status]").textContent) {
        panel.hidden = true;
      }
    });
  }

  function showSent(names) {
    if (!names.length || !panel) {
      return;
    }
    var status = panel.querySelector("[data-queue-status]");
    status.textContent = panelMsg("sent").replace("{names}", names.join(", "));
    panel.hidden = false;
  }

  if (queue && panel) {
    var sendNow = panel.querySelector("[data-queue-send]");
    sendNow.addEventListener("click", function () {
      var status = panel.querySelector("[data-queue-status]");
      if (navigator.onLine === false) {
        status.textContent = panelMsg("offline");
        return;
      }
      sendNow.disabled = true;
      queue.flush(company).catch(function () {
        status.textContent = panelMsg("failed");
      }).then(function () {
        sendNow.disabled = false;
        renderQueue();
      });
    });
    if (window.BroadcastChannel) {
      var channel = new window.BroadcastChannel(queue.CHANNEL);
      channel.addEventListener("message", function (event) {
        if (event.data && event.data.type === "flushed") {
          showSent(event.data.sent || []);
        }
        renderQueue();
      });
    }
    renderQueue();
  }
}());
