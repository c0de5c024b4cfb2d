/* « Déposez vos documents »: the form sends each file in its own request (XMLHttpRequest, two
   at a time) so that every file shows its own progress on a slow mobile network, and a file
   refused (too large, wrong type) does not stop the others. Without this script the form is a
   plain multipart POST. Texts come from the form's data-msg-* attributes (translated by the
   page); the CSRF token is the form's own field, sent first, and the X-CSRFToken header. */
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
    var entry = { file: file, item: item, bar: bar, percent: percent, status: status, state: "" };
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
    submit.disabled = true;
    next();
  });
}());
