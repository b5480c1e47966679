// The registry's per-grid summaries on a map of the caller's grids: the shade of a grid is
// its people count; a tap shows people, floating population, care groups, houses, rentals
// and organisations.
(function () {
  "use strict";
  var el = document.getElementById("registry-map");
  if (!el || !window.L) return;
  var summary = JSON.parse(el.dataset.summary || "{}");
  var most = 1;
  Object.keys(summary).forEach(function (code) {
    most = Math.max(most, summary[code].people || 0);
  });
  var map = CivicMap.create(el);
  var FIELDS = ["people", "floating", "foreign", "care", "houses", "rentals", "organisations"];

  function popup(props) {
    var counts = summary[props.code] || {};
    var box = document.createElement("div");
    box.className = "registry-popup";
    var title = document.createElement("strong");
    title.textContent = el.dataset.labelGrid + " " + props.name + " (" + props.code + ")";
    box.appendChild(title);
    var list = document.createElement("dl");
    FIELDS.forEach(function (name) {
      var dt = document.createElement("dt");
      dt.textContent = el.dataset["label" + name.charAt(0).toUpperCase() + name.slice(1)];
      var dd = document.createElement("dd");
      dd.textContent = String(counts[name] || 0);
      list.appendChild(dt);
      list.appendChild(dd);
    });
    box.appendChild(list);
    return box;
  }

  fetch(el.dataset.geojson, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
        return body;
      });
    })
    .then(function (collection) {
      var own = collection.features.filter(function (f) {
        return !f.properties.context && f.properties.level === "grid";
      });
      var layer = L.geoJSON(own, {
        style: function (f) {
          var n = (summary[f.properties.code] || {}).people || 0;
          return {
            color: "#3b6fd8", weight: 1, fillColor: "#1d4ed8",
            fillOpacity: 0.08 + 0.6 * (n / most),
          };
        },
        onEachFeature: function (f, shape) {
          shape.bindPopup(function () { return popup(f.properties); });
        },
      }).addTo(map);
      CivicMap.labelAreas(map, own);
      var extent = layer.getBounds();
      if (extent.isValid()) map.fitBounds(extent, { padding: [6, 6] });
      else map.setView([0, 0], 2);
    })
    .catch(function (error) {
      var box = document.createElement("p");
      box.className = "error map-error";
      box.setAttribute("role", "alert");
      box.textContent = (el.dataset.failed || "").replace("__REASON__", error.message);
      el.appendChild(box);
    });
})();

// An import batch's page while the job reads its file: the state and progress follow the
// batch (polled once a second); once it is done or failed the page shows its summary.
(function () {
  "use strict";
  var page = document.getElementById("batch-page");
  if (!page) return;
  var state = page.dataset.state;
  if (state !== "queued" && state !== "running") return;
  var bar = document.getElementById("batch-progress");
  var label = document.getElementById("batch-state");
  var read = document.getElementById("batch-read");
  var readText = document.getElementById("read-text");
  var failures = 0;

  function text(id) {
    var template = document.getElementById(id);
    return template ? template.innerHTML.trim() : "";
  }

  function show(body) {
    if (bar) bar.value = Math.round((body.progress || 0) * 100);
    if (label && body.state !== state) {
      label.textContent = text("state-" + body.state);
      label.className = "state state-" + body.state;
    }
    if (read && readText) {
      read.textContent = readText.content.textContent
        .replace("__TOTAL__", String(body.total))
        .replace("__ESTIMATED__", String(body.estimated_rows));
    }
    state = body.state;
  }

  function poll() {
    fetch(page.dataset.status, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.statusText);
        return response.json();
      })
      .then(function (body) {
        failures = 0;
        show(body);
        if (body.state === "done" || body.state === "failed") {
          var url = new URL(window.location.href);
          url.searchParams.delete("done");
          window.location.replace(url.toString());
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        failures += 1;
        if (failures > 5) {
          var box = document.createElement("p");
          box.className = "error-box";
          box.setAttribute("role", "alert");
          box.textContent = page.dataset.failed || "";
          page.appendChild(box);
          return;
        }
        window.setTimeout(poll, 2000);
      });
  }

  window.setTimeout(poll, 500);
})();
