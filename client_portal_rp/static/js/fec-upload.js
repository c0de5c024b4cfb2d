/* « Importer un FEC »: sends the form with XMLHttpRequest to show the upload's progress (a FEC
   may weigh hundreds of megabytes), then « Import en cours… » while the server reads it, then
   the server's answer: the report page (after its redirect) or the page with the errors, put in
   place of the page's <main>. Without JavaScript, the same form posts normally. Loaded from a
   file (the portal's CSP allows no inline script); the messages come from the form's data-msg-*
   attributes, in the page's language. */
(function () {
  "use strict";

  function init(root) {
    var form = root.querySelector("form[data-fec-upload]");
    if (!form || !window.FormData || !window.XMLHttpRequest || !window.DOMParser) {
      return;
    }
    var box = form.querySelector("[data-fec-progress]");
    var bar = box.querySelector("progress");
    var status = box.querySelector("[role=status]");
    var button = form.querySelector("button[type=submit]");
    var input = form.querySelector("input[type=file]");
    var limit = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;

    function msg(name) {
      return form.getAttribute("data-msg-" + name) || "";
    }

    function show(text, percent) {
      box.hidden = false;
      if (percent === null) {
        bar.removeAttribute("value"); // indeterminate: the server is working
      } else {
        bar.value = percent;
      }
      status.textContent = text;
    }

    function answer(xhr) {
      var type = xhr.getResponseHeader("Content-Type") || "";
      if (type.indexOf("text/html") !== 0) {
        show(msg("failed"), 0);
        button.disabled = false;
        return;
      }
      var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var main = document.getElementById("main");
      var next = page.getElementById("main");
      if (!main || !next) {
        show(msg("failed"), 0);
        button.disabled = false;
        return;
      }
      if (xhr.responseURL && xhr.responseURL !== form.action) {
        window.history.pushState({}, "", xhr.responseURL); // the report's own address
      }
      document.title = page.title;
      main.innerHTML = next.innerHTML;
      main.focus();
      init(main);
    }

    form.addEventListener("submit", function (event) {
      var file = input.files && input.files[0];
      if (!file) {
        return; // the browser's own check, or the server's message
      }
      event.preventDefault();
      if (limit && file.size > limit) {
        show(msg("too-big"), 0);
        return;
      }
      button.disabled = true;
      show(msg("sending") + " 0\u00a0%", 0);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (progress) {
        if (progress.lengthComputable && progress.total) {
          var percent = Math.floor((progress.loaded / progress.total) * 100);
          show(msg("sending") + " " + percent + "\u00a0%", percent);
        }
      });
      xhr.upload.addEventListener("load", function () {
        show(msg("working"), null);
      });
      xhr.addEventListener("load", function () {
        answer(xhr);
      });
      xhr.addEventListener("error", function () {
        show(msg("failed"), 0);
        button.disabled = false;
      });
      xhr.send(new FormData(form));
    });
  }

  init(document);
})();
