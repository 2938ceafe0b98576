// xtrace web UI: the only script the pages load (CSP: script-src 'self').
// Progressive enhancement only: every page works without it.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    // Selects marked data-autosubmit submit their form on change (project switcher).
    document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });

    // JSON blocks: toggle between pretty and raw text.
    document.querySelectorAll("button.toggle-raw").forEach(function (b) {
      b.addEventListener("click", function () {
        var wrap = b.parentNode;
        var pretty = wrap.querySelector("pre.pretty");
        var raw = wrap.querySelector("pre.raw");
        var showRaw = raw.hidden;
        raw.hidden = !showRaw;
        pretty.hidden = showRaw;
        b.textContent = showRaw ? "Pretty" : "Raw";
        b.setAttribute("aria-pressed", showRaw ? "true" : "false");
      });
    });

    // "/" focuses the search box; arrow keys move through the observation tree.
    document.addEventListener("keydown", function (e) {
      var t = e.target;
      var typing = t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA");
      if (e.key === "/" && !typing) {
        var q = document.querySelector("form.filters input[type=search]");
        if (q) { e.preventDefault(); q.focus(); }
      }
      if ((e.key === "ArrowDown" || e.key === "ArrowUp") && t && t.classList && t.classList.contains("obslink")) {
        var links = Array.prototype.slice.call(document.querySelectorAll("a.obslink"));
        var i = links.indexOf(t) + (e.key === "ArrowDown" ? 1 : -1);
        if (i >= 0 && i < links.length) { e.preventDefault(); links[i].focus(); }
      }
    });

    // Live trace list: poll for traces newer than the newest shown and prepend them.
    var live = document.getElementById("live-status");
    var body = document.querySelector("#traces tbody");
    if (live && body) {
      var url = live.getAttribute("data-live-url");
      var after = live.getAttribute("data-after");
      var busy = false;
      var tick = function () {
        if (busy || document.hidden) return;
        busy = true;
        fetch(url + "?after=" + encodeURIComponent(after), { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (r) {
            if (!r.ok) throw new Error("HTTP " + r.status);
            var newest = r.headers.get("X-Newest");
            return r.text().then(function (html) { return { html: html, newest: newest }; });
          })
          .then(function (res) {
            if (res.newest && res.html.trim()) {
              body.insertAdjacentHTML("afterbegin", res.html);
              after = res.newest;
              var n = body.querySelectorAll("tr.fresh").length;
              live.textContent = " · live · " + n + " new";
              var empty = document.getElementById("no-traces");
              if (empty) empty.hidden = true;
              var total = document.getElementById("trace-total");
              if (total) {
                var v = parseInt(total.textContent.replace(/,/g, ""), 10) || 0;
                var added = (res.html.match(/<tr/g) || []).length;
                total.textContent = (v + added).toLocaleString("en-US");
              }
            }
          })
          .catch(function () { live.textContent = " · live (paused)"; })
          .then(function () { busy = false; });
      };
      setInterval(tick, 2000);
    }
  });
})();
