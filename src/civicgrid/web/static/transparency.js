// Each bar's length, from its data-width (a percentage): set here, because the pages'
// Content-Security-Policy allows no style attributes.
(function () {
  "use strict";
  document.querySelectorAll(".bar > span[data-width]").forEach(function (bar) {
    bar.style.width = bar.dataset.width + "%";
  });
})();

// The map of recent cases on the transparency page: the district and street outlines, with
// their names, over the base map (basemap.js), a dot for each case. The server has already removed what may
// not be published; a case about a person sits at its grid's centre as a dashed ring.
(function () {
  "use strict";

  var el = document.getElementById("tp-map");
  var data = document.getElementById("tp-points");
  if (!el || !data || !window.L) return;

  var points = JSON.parse(data.textContent || "[]");
  var map = CivicMap.create(el);
  var fallback = [30.66, 104.06];

  var AREA_STYLES = {
    district: { color: "#0b2f7a", weight: 2, opacity: 0.8, fillColor: "#eef3ff", fillOpacity: 0.35 },
    street: { color: "#5b8def", weight: 1, opacity: 0.8, fill: false },
  };
  var POINT_STYLE = { radius: 5, weight: 1.5, color: "#ffffff", fillColor: "#e8590c", fillOpacity: 0.9 };
  var CLOSED_STYLE = { radius: 5, weight: 1.5, color: "#ffffff", fillColor: "#2f9e44", fillOpacity: 0.85 };
  var GRID_STYLE = { radius: 9, weight: 1.5, dashArray: "3 3", color: "#7c3aed", fillColor: "#7c3aed", fillOpacity: 0.25 };

  // Titles are residents' words: put them in as text, never as markup.
  function tip(p) {
    var span = document.createElement("span");
    var lines = ["#" + p.id + " · " + p.label, p.state + " · " + p.day];
    if (p.title) lines.push(p.title);
    lines.forEach(function (line, i) {
      if (i) span.appendChild(document.createElement("br"));
      span.appendChild(document.createTextNode(line));
    });
    return span;
  }

  var markers = L.featureGroup();
  points.forEach(function (p) {
    var style = p.grid ? GRID_STYLE : p.closed ? CLOSED_STYLE : POINT_STYLE;
    var marker = L.circleMarker([p.lat, p.lon], style);
    marker.bindTooltip(tip(p), { direction: "top" });
    marker.on("click", function () { marker.openTooltip(); });
    markers.addLayer(marker);
  });
  el.dataset.markers = String(points.length);
  el.dataset.gridMarkers = String(points.filter(function (p) { return p.grid; }).length);

  function fail(reason) {
    var box = document.createElement("p");
    box.className = "error map-error";
    box.setAttribute("role", "alert");
    box.textContent = (el.dataset.failed || "").replace("__REASON__", reason);
    el.appendChild(box);
  }

  fetch(el.dataset.geojson, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) throw new Error(response.statusText);
      return response.json();
    })
    .then(function (collection) {
      var outlines = L.geoJSON(collection, {
        interactive: false,
        style: function (f) {
          var style = AREA_STYLES[f.properties.level] || AREA_STYLES.street;
          return L.extend({ className: "area" }, style);
        },
      }).addTo(map);
      CivicMap.labelAreas(map, collection);
      markers.addTo(map);
      var extent = markers.getLayers().length ? markers.getBounds() : outlines.getBounds();
      if (extent.isValid()) map.fitBounds(extent, { padding: [12, 12], maxZoom: 15 });
      else map.setView(fallback, 10);
      el.dataset.ready = "true";
    })
    .catch(function (error) {
      markers.addTo(map);
      map.setView(fallback, 10);
      fail(error.message);
    });
})();
