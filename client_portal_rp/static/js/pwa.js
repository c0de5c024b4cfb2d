/* The installable app on every page (ADR 0026): registers the service worker (/sw.js, scope
   "/"), marks a page shown from the worker's copy (offline) as read-only with its date, keeps
   one person's cached pages from the next person, and sends the offline deposit queue when
   the page opens and when the network returns. Texts come from the page (translated). */
(function () {
  "use strict";

  var root = document.documentElement;
  var PAGES_CACHE = "portail-pages";
  var USER_KEY = "portail-user";
  var copyMoment = root.getAttribute("data-offline-copy");
  var user = document.body.getAttribute("data-user"); // null: a page that names no one (offline page)

  function forgetPages() {
    var done = [];
    if (window.caches) {
      done.push(window.caches.delete(PAGES_CACHE));
    }
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "logout" });
    }
    return Promise.all(done);
  }

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function parisParts(moment) {
    var parts = {};
    new Intl.DateTimeFormat("fr-FR", {
      timeZone: "Europe/Paris", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(moment).forEach(function (part) { parts[part.type] = part.value; });
    return {
      date: parts.day + "/" + parts.month + "/" + parts.year,
      time: two(parseInt(parts.hour, 10)) + ":" + parts.minute,
    };
  }

  function showCopy() {
    var banner = document.querySelector("[data-offline-banner]");
    var moment = new Date(copyMoment);
    if (banner && !isNaN(moment.getTime())) {
      var parts = parisParts(moment);
      banner.textContent = (banner.getAttribute("data-msg") || "")
        .replace("{date}", parts.date).replace("{time}", parts.time);
      banner.hidden = false;
    }
    // Read-only: no form of the copy works offline, but the deposit form (it fills the queue).
    Array.prototype.forEach.call(document.forms, function (form) {
      if (form.classList.contains("deposit-form")) {
        return;
      }
      form.classList.add("offline-disabled");
      Array.prototype.forEach.call(form.elements, function (element) { element.disabled = true; });
    });
  }

  function watchOwner() {
    var previous = null;
    try {
      previous = window.localStorage.getItem(USER_KEY);
      window.localStorage.setItem(USER_KEY, user);
    } catch (error) {
      previous = null;
    }
    if (!user || (previous !== null && previous !== user)) {
      forgetPages(); // logged out, or someone else logged in: the copies were not theirs
    }
    var logout = document.querySelector("form.header-logout");
    if (logout) {
      logout.addEventListener("submit", function (event) {
        event.preventDefault();
        var go = function () { logout.submit(); };
        Promise.race([forgetPages(), new Promise(function (resolve) { setTimeout(resolve, 1500); })])
          .then(go, go);
      });
    }
  }

  function flushQueue() {
    if (!user || !window.PortalDepositQueue || navigator.onLine === false) {
      return;
    }
    window.PortalDepositQueue.flush().catch(function () {
      // offline or the server failed: the items wait for the next chance
    });
  }

  if (copyMoment) {
    showCopy();
  } else if (user !== null) {
    watchOwner();
  }
  var worker = document.body.getAttribute("data-sw");
  if ("serviceWorker" in navigator && worker) {
    navigator.serviceWorker.register(worker, { scope: "/" })
      .catch(function () { /* no worker: the portal works online as before */ });
  }
  if (user) {
    window.addEventListener("online", flushQueue);
    if (!copyMoment) {
      flushQueue();
    }
  }
}());
