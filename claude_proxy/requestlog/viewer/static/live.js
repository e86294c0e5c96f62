// Live session view: poll the row count; when it grows, fetch the page again and swap the threads in.
(function () {
  var summary = document.querySelector(".summary[data-session]");
  if (!summary) { return; }
  var rows = parseInt(summary.getAttribute("data-rows"), 10);
  var url = window.location.pathname.replace(/\/$/, "");
  function refresh() {
    fetch(url + "/version", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) {
        if (!v || v.rows === rows) { return; }
        return fetch(url, { cache: "no-store", credentials: "same-origin" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var fresh = doc.getElementById("threads");
            var count = doc.getElementById("turn-count");
            if (fresh) { document.getElementById("threads").replaceWith(fresh); }
            if (count) { document.getElementById("turn-count").replaceWith(count); }
            rows = v.rows;
            summary.setAttribute("data-rows", String(rows));
          });
      })
      .catch(function () { /* the proxy restarting: try again next time */ })
      .then(function () { window.setTimeout(refresh, 2000); });
  }
  window.setTimeout(refresh, 2000);
})();
