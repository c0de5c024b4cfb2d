/* The portal's service worker (ADR 0026), served at /sw.js by client_portal_rp/pwa.py, which
   fills in SHELL (the app shell's URLs) and VERSION (a hash of those files and of this one).
   Written for this app: no Workbox (its loader fetches modules from a CDN), no CDN at all.

   - The app shell (CSS, JS, icons, the offline page) is cached at install in a cache named
     after VERSION, served cache-first; a new version drops the old cache.
   - Pages: network first. The last company homes and deposit, archive and accounting lists
     viewed are kept (with the moment they were fetched) and shown when the network is gone,
     marked as copies (<html data-offline-copy>): pwa.js shows « Hors ligne — affiché tel qu'au
     ... » and makes them read-only. Any other page offline: the offline page.
   - Never cached: POSTs, document downloads and previews, thumbnails, /app/session — anything
     but the shell and those list pages goes to the network untouched.
   - Another person's pages: the pages cache is dropped on logout (pwa.js, message "logout"),
     when a list page answers with a redirect (no session any more), and by pwa.js when the
     person logged in changes.
   - Deposits queued offline are sent on `sync` (Background Sync, one tag per company) by
     deposit-queue.js, under the same Web Lock as the pages' flush. */
"use strict";

var VERSION = "__SHELL_VERSION__";
var SHELL = [/*__SHELL__*/];
var SHELL_CACHE = "portail-shell-" + VERSION;
var PAGES_CACHE = "portail-pages";
var OFFLINE_URL = "/hors-ligne";
var COPY_HEADER = "X-Portail-Copie";
// The server marks pages never to keep offline ("sécurité avancée" modules).
var NO_COPY_HEADER = "X-Portail-Hors-Ligne";
var MAX_PAGES = 24;
var LIST_PAGES = [
  /^\/entreprises\/[^/]+\/$/,
  /^\/entreprises\/[^/]+\/depots$/,
  /^\/entreprises\/[^/]+\/archives$/,
  /^\/entreprises\/[^/]+\/compta$/,
];

importScripts("/static/js/deposit-queue.js");

function isListPage(url) {
  return LIST_PAGES.some(function (pattern) { return pattern.test(url.pathname); });
}

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL_CACHE)
      .then(function (cache) { return cache.addAll(SHELL); })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("portail-shell-") === 0 && name !== SHELL_CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function forgetPages() {
  return caches.delete(PAGES_CACHE);
}

function forgetCopy(request) {
  return caches.open(PAGES_CACHE).then(function (cache) { return cache.delete(request.url); });
}

function keepCopy(request, response) {
  var type = response.headers.get("Content-Type") || "";
  if (type.indexOf("text/html") !== 0) {
    return Promise.resolve();
  }
  return response.text().then(function (body) {
    var headers = new Headers(response.headers);
    headers.set(COPY_HEADER, new Date().toISOString());
    return caches.open(PAGES_CACHE).then(function (cache) {
      return cache.put(request.url, new Response(body, { status: 200, headers: headers }))
        .then(function () { return cache.keys(); })
        .then(function (keys) {
          var extra = keys.length - MAX_PAGES;
          return Promise.all(keys.slice(0, Math.max(extra, 0)).map(function (key) {
            return cache.delete(key);
          }));
        });
    });
  });
}

function offlineCopy(request) {
  return caches.open(PAGES_CACHE).then(function (cache) {
    return cache.match(request.url).then(function (found) {
      return found || cache.match(request.url, { ignoreSearch: true });
    });
  }).then(function (copy) {
    if (!copy) {
      return caches.match(OFFLINE_URL).then(function (page) { return page || Response.error(); });
    }
    var moment = copy.headers.get(COPY_HEADER) || "";
    return copy.text().then(function (body) {
      var marked = body.replace(/<html\b/, '<html data-offline-copy="' + moment + '"');
      return new Response(marked, { status: 200, headers: copy.headers });
    });
  });
}

function page(event) {
  var request = event.request;
  var url = new URL(request.url);
  return fetch(request).then(function (response) {
    if (isListPage(url)) {
      if (response.type === "opaqueredirect" || response.redirected) {
        event.waitUntil(forgetPages()); // sent to the login page: no session any more
      } else if (response.headers.get(NO_COPY_HEADER) === "non") {
        event.waitUntil(forgetCopy(request));
      } else if (response.ok) {
        event.waitUntil(keepCopy(request, response.clone()));
      }
    }
    return response;
  }, function () {
    return offlineCopy(request);
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") {
    return;
  }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(page(event));
    return;
  }
  if (SHELL.indexOf(url.pathname) !== -1) {
    event.respondWith(
      caches.open(SHELL_CACHE)
        .then(function (cache) { return cache.match(url.pathname); })
        .then(function (cached) { return cached || fetch(request); })
    );
  }
});

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "logout") {
    event.waitUntil(forgetPages());
  }
});

self.addEventListener("sync", function (event) {
  var company = self.PortalDepositQueue.companyOfTag(event.tag);
  if (company !== null) {
    event.waitUntil(self.PortalDepositQueue.flush(company));
  }
});
