/* The offline deposit queue (ADR 0026), shared by the pages and the service worker (sw.js
   loads it with importScripts): files chosen without network wait in IndexedDB and are sent
   when it returns — by Background Sync in the worker where the browser has it, else by the
   page on its next opening, on its `online` event or « Envoyer maintenant ».

   Nothing is lost, nothing is sent twice:
   - an item is deleted only after the server answered 2xx (deposited, or already deposited
     under its key), or marked "refused" with the server's French message after a definitive
     4xx; a network error, a 5xx or a redirect to the login page keeps it for the next flush;
   - each item carries an Idempotency-Key made once (crypto.randomUUID) when the file was
     chosen: sent again, the server answers with the deposit already made;
   - a flush holds the Web Lock "portal-deposit-queue": Chromium fires both the worker's
     `sync` and the page's `online` on reconnection, and two flushes would run side by side.

   The form's CSRF token may be hours old: the flush first asks /app/session for the session's
   user and a fresh token (pwa.py). Items are sent only by the person who queued them (`owner`,
   the portal user's public id): after a logout and another login on the same phone, the first
   person's files wait for that person.

   No DOM here: the worker has none. Pages hear of changes on the BroadcastChannel. */
(function (scope) {
  "use strict";

  var DB_NAME = "portail-depots";
  var DB_VERSION = 1;
  var STORE = "queue";
  var LOCK = "portal-deposit-queue";
  var CHANNEL = "portal-deposit-queue";
  var SESSION_URL = "/app/session";
  var SYNC_TAG = "portail-depots:";
  var TEXT = {
    refused: "Le portail a refusé ce document (erreur {status}).",
  };

  function openDatabase() {
    return new Promise(function (resolve, reject) {
      var request = scope.indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = function () {
        var store = request.result.createObjectStore(STORE, { keyPath: "key" });
        store.createIndex("company", "company");
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function withStore(mode, action) {
    return openDatabase().then(function (database) {
      return new Promise(function (resolve, reject) {
        var transaction = database.transaction(STORE, mode);
        var result = action(transaction.objectStore(STORE));
        transaction.oncomplete = function () {
          database.close();
          resolve(result && "result" in result ? result.result : undefined);
        };
        transaction.onerror = function () { database.close(); reject(transaction.error); };
        transaction.onabort = function () { database.close(); reject(transaction.error); };
      });
    });
  }

  function announce(change) {
    if (scope.BroadcastChannel) {
      var channel = new scope.BroadcastChannel(CHANNEL);
      channel.postMessage(change);
      channel.close();
    }
  }

  function newKey() {
    if (scope.crypto && scope.crypto.randomUUID) {
      return scope.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    scope.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b + 256).toString(16).slice(1);
    }).join("");
  }

  /* item: { key, owner, company, url, type, comment, pieceRequest, name, blob, size, created } */
  function add(item) {
    item.state = "waiting";
    item.message = "";
    return withStore("readwrite", function (store) { return store.put(item); })
      .then(function () { announce({ type: "queued", company: item.company }); });
  }

  function all() {
    return withStore("readonly", function (store) { return store.getAll(); })
      .then(function (items) {
        return (items || []).sort(function (a, b) { return a.created < b.created ? -1 : 1; });
      });
  }

  function remove(key) {
    return withStore("readwrite", function (store) { return store.delete(key); })
      .then(function () { announce({ type: "removed" }); });
  }

  function put(item) {
    return withStore("readwrite", function (store) { return store.put(item); });
  }

  function syncTag(company) {
    return SYNC_TAG + company;
  }

  function companyOfTag(tag) {
    return tag.indexOf(SYNC_TAG) === 0 ? tag.slice(SYNC_TAG.length) : null;
  }

  function messageOf(response) {
    return response.json().then(function (answer) {
      var first = answer.results && answer.results[0];
      return (first && first.message) || answer.message || "";
    }, function () { return ""; }).then(function (text) {
      return text || TEXT.refused.replace("{status}", String(response.status));
    });
  }

  function definitiveRefusal(status) {
    return status >= 400 && status < 500 && status !== 408 && status !== 425 && status !== 429;
  }

  function sendOne(item, token) {
    var body = new FormData();
    body.append("csrf_token", token); // first: checked before the file is written
    body.append("type", item.type);
    body.append("comment", item.comment || "");
    if (item.pieceRequest) {
      body.append("piece_request", item.pieceRequest);
    }
    body.append("documents", item.blob, item.name);
    return scope.fetch(item.url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      redirect: "manual", // a login redirect is no answer: keep the item
      cache: "no-store",
      headers: { "Accept": "application/json", "Idempotency-Key": item.key, "X-CSRFToken": token },
    });
  }

  /* Send the waiting items (of one company, or all), one at a time, under the lock.
     Resolves to { sent: [names], refused: [names], left: n }; rejects on a network error or a
     server error (the worker's sync event is then retried by the browser). */
  function flushLocked(company) {
    var outcome = { sent: [], refused: [], left: 0 };
    return all().then(function (items) {
      var waiting = items.filter(function (item) {
        return item.state === "waiting" && (!company || item.company === company);
      });
      if (!waiting.length) {
        return outcome;
      }
      return scope.fetch(SESSION_URL, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Accept": "application/json" },
      }).then(function (response) {
        if (!response.ok) {
          throw new Error("session " + response.status);
        }
        return response.json();
      }).then(function (session) {
        var mine = waiting.filter(function (item) { return session.user && item.owner === session.user; });
        outcome.left = waiting.length - mine.length;
        var chain = Promise.resolve();
        var stopped = false;
        mine.forEach(function (item) {
          chain = chain.then(function () {
            if (stopped) {
              outcome.left += 1;
              return null;
            }
            return sendOne(item, session.csrf_token).then(function (response) {
              if (response.type === "opaqueredirect" || response.status === 0) {
                stopped = true; // logged out meanwhile
                outcome.left += 1;
                return null;
              }
              if (response.ok) {
                outcome.sent.push(item.name);
                return remove(item.key);
              }
              if (definitiveRefusal(response.status)) {
                return messageOf(response).then(function (text) {
                  item.state = "refused";
                  item.message = text;
                  outcome.refused.push(item.name);
                  return put(item);
                });
              }
              throw new Error("server " + response.status);
            });
          });
        });
        return chain.then(function () { return outcome; });
      });
    }).then(function (result) {
      announce({ type: "flushed", sent: result.sent, refused: result.refused });
      return result;
    });
  }

  var running = null; // without Web Locks (old browsers): one flush at a time in this context

  function flush(company) {
    if (scope.navigator && scope.navigator.locks) {
      return scope.navigator.locks.request(LOCK, function () { return flushLocked(company); });
    }
    if (!running) {
      running = flushLocked(company).then(function (result) {
        running = null;
        return result;
      }, function (error) {
        running = null;
        throw error;
      });
    }
    return running;
  }

  scope.PortalDepositQueue = {
    CHANNEL: CHANNEL,
    add: add,
    all: all,
    remove: remove,
    flush: flush,
    newKey: newKey,
    syncTag: syncTag,
    companyOfTag: companyOfTag,
  };
}(self));
