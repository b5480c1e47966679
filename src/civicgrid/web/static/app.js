// The grid map, over the base map (basemap.js: the city's tiles, or CivicGrid's own roads and
// buildings). Grids take the taps; the outlines of communities, streets and districts are
// drawn above them, and every area's name is on the map at the zooms where it fits.
(function () {
  "use strict";

  var mapEl = document.getElementById("map");
  if (!mapEl) return;

  var STYLES = {
    grid: { color: "#5b8def", weight: 0.6, fillColor: "#dbe7ff", fillOpacity: 0.55 },
    community: { color: "#3b6fd8", weight: 1.2, fill: false },
    street: { color: "#1f4fb4", weight: 2, fill: false },
    district: { color: "#0b2f7a", weight: 3.2, fill: false },
  };
  var CONTEXT_STYLE = { color: "#888", weight: 1.5, dashArray: "4 4", fill: false };
  var SELECTED_STYLE = { color: "#e8590c", weight: 3, fillColor: "#ffd8a8", fillOpacity: 0.75 };
  var ORDER = ["grid", "community", "street", "district"];

  var map = CivicMap.create(mapEl);
  var labels = JSON.parse(mapEl.dataset.levelLabels || "{}");
  var layersByCode = {};
  var groups = {};
  var selected = null;

  // Names come from imported files: put them in as text, never as markup.
  function textLabel(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  function showDetail(code) {
    htmx.ajax("GET", mapEl.dataset.detail + encodeURIComponent(code), { target: "#detail", swap: "innerHTML" });
  }

  function select(code) {
    var layer = layersByCode[code];
    if (selected && selected !== layer) {
      selected.setStyle(selected.baseStyle);
    }
    selected = null;
    if (!layer) return;
    if (layer.feature.properties.level === "grid") {
      layer.setStyle(SELECTED_STYLE);
      layer.bringToFront();
      selected = layer;
    }
    var bounds = layer.getBounds();
    if (!map.getBounds().contains(bounds)) map.fitBounds(bounds, { maxZoom: map.getZoom() + 1 });
  }

  function addLevel(level, features) {
    var style = STYLES[level];
    groups[level] = L.geoJSON(features, {
      style: function (f) { return f.properties.context ? CONTEXT_STYLE : style; },
      interactive: level === "grid",
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        layer.baseStyle = p.context ? CONTEXT_STYLE : style;
        if (!p.context) layersByCode[p.code] = layer;
        if (layer.options) layer.options.className = "area area-" + level + (p.context ? " context" : "");
        if (level === "grid") {
          layer.bindTooltip(textLabel(p.name + " · " + p.code), { sticky: true, direction: "top" });
          layer.on("click", function () { select(p.code); showDetail(p.code); });
        }
      },
    }).addTo(map);
  }

  function fail(reason) {
    var box = document.createElement("p");
    box.className = "error map-error";
    box.setAttribute("role", "alert");
    box.textContent = (mapEl.dataset.failed || "").replace("__REASON__", reason);
    mapEl.appendChild(box);
  }

  fetch(mapEl.dataset.geojson, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
        return body;
      });
    })
    .then(function (collection) {
      var byLevel = { grid: [], community: [], street: [], district: [] };
      collection.features.forEach(function (f) {
        if (byLevel[f.properties.level]) byLevel[f.properties.level].push(f);
      });
      ORDER.forEach(function (level) { addLevel(level, byLevel[level]); });
      CivicMap.labelAreas(map, collection);
      var overlays = {};
      ORDER.slice().reverse().forEach(function (level) {
        if (byLevel[level].length) overlays[labels[level] || level] = groups[level];
      });
      L.control.layers(null, overlays, { collapsed: window.innerWidth < 700 }).addTo(map);
      var own = collection.features.filter(function (f) { return !f.properties.context; });
      var extent = L.geoJSON(own.length ? own : collection.features).getBounds();
      if (extent.isValid()) map.fitBounds(extent, { padding: [12, 12] });
      else map.setView([30.66, 104.06], 10);
      mapEl.dataset.ready = "true";
    })
    .catch(function (error) { fail(error.message); map.setView([30.66, 104.06], 10); });

  // "Find my grid": the phone's position → the grid it lies in (for grid workers on patrol).
  var LocateControl = L.Control.extend({
    options: { position: "topleft" },
    onAdd: function () {
      var button = L.DomUtil.create("button", "locate-me");
      button.type = "button";
      button.title = mapEl.dataset.locateLabel || "";
      button.setAttribute("aria-label", button.title);
      button.textContent = "◎";
      L.DomEvent.disableClickPropagation(button);
      L.DomEvent.on(button, "click", locateMe);
      return button;
    },
  });
  if (navigator.geolocation) new LocateControl().addTo(map);

  function locateMe() {
    navigator.geolocation.getCurrentPosition(
      function (position) {
        var lat = position.coords.latitude, lon = position.coords.longitude;
        L.circleMarker([lat, lon], { radius: 6, color: "#e8590c", interactive: false }).addTo(map);
        fetch("/api/v1/areas/locate?lat=" + lat + "&lon=" + lon, { credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (body) {
            if (body.grid) { select(body.grid.code); showDetail(body.grid.code); }
            else showMessage(body.error ? body.error.message : "");
          });
      },
      function (error) { showMessage(error.message); },
      { enableHighAccuracy: true, timeout: 15000 }
    );
  }

  function showMessage(text) {
    var detail = document.getElementById("detail");
    var box = document.createElement("p");
    box.className = "error";
    box.setAttribute("role", "alert");
    box.textContent = text;
    detail.replaceChildren(box);
  }

  // Details opened from the search list, breadcrumbs or children also highlight the map.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "detail") {
      var article = event.detail.target.querySelector("article.area");
      if (article) select(article.dataset.code);
    }
  });
})();
