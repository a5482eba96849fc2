// Progressive enhancement of the credentials page; everything works without it.
// - The list filters as you type (the same query string the form submits, fetched as a fragment).
// - Live pages (watch, controller) refresh their content when a pass ends (/events).
(function () {
  "use strict";

  function fragment(url, part) {
    var u = new URL(url, window.location.href);
    u.searchParams.set("partial", part);
    return fetch(u.toString(), { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.text();
    });
  }

  function replaceResults(html) {
    var box = document.getElementById("results");
    if (!box) { return; }
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("results");
    if (fresh) { box.replaceWith(fresh); }
  }

  function refreshList() {
    return fragment(window.location.href, "results").then(replaceResults);
  }

  // Fetches the page again and swaps in the elements with these ids (the list keeps its form,
  // so typing is not interrupted; other pages swap their whole content).
  function refresh(ids) {
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ids.forEach(function (id) {
          var fresh = doc.getElementById(id);
          var old = document.getElementById(id);
          if (fresh && old) { old.replaceWith(fresh); }
        });
      });
  }

  var form = document.getElementById("filters");
  if (form) {
    var timer = null;
    var live = function () {
      var params = new URLSearchParams(new FormData(form));
      var url = window.location.pathname + "?" + params.toString();
      window.history.replaceState(null, "", url);
      refreshList().catch(function () {});
    };
    form.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(live, 200);
    });
  }

  if (document.body.dataset.live === "true" && window.EventSource) {
    var events = new EventSource("/events");
    events.addEventListener("pass", function () {
      var ids = document.getElementById("filters") ? ["results", "last-pass"] : ["main"];
      refresh(ids).catch(function () {});
    });
  }
})();
