// The base map under every map of the platform (CivicMap.create): the city's tiles when it
// configures them (Settings.basemap_*: an XYZ layer such as 天地图, or its own tile server),
// else what CivicGrid itself knows, fetched for the map's bounds from the registry: named
// roads, building footprints and door addresses at close zoom. Over either, the names of the
// grids, communities, streets and districts a page draws (CivicMap.labelAreas).
//
// Our data is WGS-84. Tiles drawn in GCJ-02 (AMap-style) would put every pin a few hundred
// metres off, so for them the map uses a projection that shifts WGS-84 into GCJ-02 on the
// way to the screen and back on the way from it (clicks, bounds): the one place where the
// datum is converted, and every page's layers, pins and clicks stay in WGS-84 unchanged.
(function () {
  "use strict";
  if (!window.L) return;

  var meta = document.querySelector('meta[name="civicgrid-basemap"]');
  var config = {};
  try { config = JSON.parse((meta && meta.content) || "{}"); } catch (e) { config = {}; }

  // ------------------------------------------------------------ WGS-84 ⇄ GCJ-02
  // The published forward formula (as civicgrid.areas.geo has it); the inverse by
  // fixed-point iteration, to well under a centimetre.
  var A = 6378245.0;
  var EE = 0.00669342162296594323;

  function outsideChina(lat, lon) {
    return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
  }

  function shiftLat(x, y) {
    var r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin(y / 3.0 * Math.PI)) * 2.0 / 3.0;
    r += (160.0 * Math.sin(y / 12.0 * Math.PI) + 320 * Math.sin(y * Math.PI / 30.0)) * 2.0 / 3.0;
    return r;
  }

  function shiftLon(x, y) {
    var r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin(x / 3.0 * Math.PI)) * 2.0 / 3.0;
    r += (150.0 * Math.sin(x / 12.0 * Math.PI) + 300.0 * Math.sin(x / 30.0 * Math.PI)) * 2.0 / 3.0;
    return r;
  }

  function wgs84ToGcj02(lat, lon) {
    if (outsideChina(lat, lon)) return [lat, lon];
    var dLat = shiftLat(lon - 105.0, lat - 35.0);
    var dLon = shiftLon(lon - 105.0, lat - 35.0);
    var radLat = lat / 180.0 * Math.PI;
    var magic = 1 - EE * Math.sin(radLat) * Math.sin(radLat);
    var sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((A * (1 - EE)) / (magic * sqrtMagic) * Math.PI);
    dLon = (dLon * 180.0) / (A / sqrtMagic * Math.cos(radLat) * Math.PI);
    return [lat + dLat, lon + dLon];
  }

  function gcj02ToWgs84(lat, lon) {
    if (outsideChina(lat, lon)) return [lat, lon];
    var wLat = lat, wLon = lon;
    for (var i = 0; i < 10; i++) {
      var g = wgs84ToGcj02(wLat, wLon);
      var eLat = g[0] - lat, eLon = g[1] - lon;
      wLat -= eLat;
      wLon -= eLon;
      if (Math.abs(eLat) < 1e-9 && Math.abs(eLon) < 1e-9) break;
    }
    return [wLat, wLon];
  }

  // Spherical Mercator of the GCJ-02 position: WGS-84 data over GCJ-02 tiles.
  var mercator = L.Projection.SphericalMercator;
  var GCJ02 = L.extend({}, L.CRS.EPSG3857, {
    code: "EPSG:3857-GCJ02",
    projection: {
      bounds: mercator.bounds,
      project: function (latlng) {
        var g = wgs84ToGcj02(latlng.lat, latlng.lng);
        return mercator.project(L.latLng(g[0], g[1]));
      },
      unproject: function (point) {
        var g = mercator.unproject(point);
        var w = gcj02ToWgs84(g.lat, g.lng);
        return L.latLng(w[0], w[1]);
      },
    },
  });

  // ------------------------------------------------------------ helpers

  function textOf(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  // A name on the map: a marker with the name as text (names come from imported files).
  function label(latlng, text, className, pane) {
    var icon = L.divIcon({ className: "map-label " + className, html: textOf(text), iconSize: null });
    return L.marker(latlng, { icon: icon, interactive: false, keyboard: false, pane: pane });
  }

  function escapeHtml(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  // Show each group of layers only between its zooms.
  function byZoom(map, ranges) {
    function update() {
      var zoom = map.getZoom();
      ranges.forEach(function (r) {
        var show = zoom >= r.min && zoom < r.max;
        if (show && !map.hasLayer(r.layer)) r.layer.addTo(map);
        if (!show && map.hasLayer(r.layer)) r.layer.remove();
      });
    }
    map.on("zoomend", update);
    map.whenReady(update);
    return update;
  }

  // A point FRACTION of the way from a line's first vertex to its last: a road's name
  // away from the middle, where the grid's own name is.
  function along(geometry, fraction) {
    var c = geometry.type === "LineString" ? geometry.coordinates : null;
    if (!c || c.length < 2) return null;
    var a = c[0], b = c[c.length - 1];
    return L.latLng(a[1] + (b[1] - a[1]) * fraction, a[0] + (b[0] - a[0]) * fraction);
  }

  // ------------------------------------------------------------ what CivicGrid knows

  var FEATURES_URL = "/api/v1/registry/map";
  var NEAR_ZOOM = 15; // buildings from here
  var BUILDING_STYLE = { color: "#a89a82", weight: 1, fillColor: "#e8e0d0", fillOpacity: 0.95 };
  var ROAD_CASING = { color: "#c3c8d2", weight: 9, opacity: 1, lineCap: "round" };
  var ROAD_STYLE = { color: "#ffffff", weight: 6, opacity: 1, lineCap: "round" };
  var DOOR_STYLE = { radius: 3, weight: 1, color: "#6b5b3e", fillColor: "#ffffff", fillOpacity: 1 };

  function knownFeatures(map, el) {
    var roads = L.layerGroup();
    var buildings = L.layerGroup();
    var doors = L.layerGroup();
    var roadNames = L.layerGroup();
    var buildingNames = L.layerGroup();
    var doorNames = L.layerGroup();
    var shown = L.layerGroup([roads, buildings]);
    byZoom(map, [
      { layer: shown, min: NEAR_ZOOM, max: 99 },
      { layer: roadNames, min: NEAR_ZOOM, max: 99 },
      { layer: doors, min: 16, max: 99 },
      { layer: buildingNames, min: 17, max: 99 },
      { layer: doorNames, min: 18, max: 99 },
    ]);
    var asked = 0;
    function load() {
      if (map.getZoom() < NEAR_ZOOM) return;
      var mine = ++asked;
      var bbox = map.getBounds().pad(0.25).toBBoxString();
      fetch(FEATURES_URL + "?bbox=" + encodeURIComponent(bbox), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (collection) {
          if (!collection || mine !== asked || collection.too_large) return;
          [roads, buildings, doors, roadNames, buildingNames, doorNames].forEach(function (g) {
            g.clearLayers();
          });
          var counts = { road: 0, building: 0, address: 0 };
          collection.features.forEach(function (f) {
            var p = f.properties;
            counts[p.kind] = (counts[p.kind] || 0) + 1;
            var shape = L.geoJSON(f);
            var centre = shape.getBounds().getCenter();
            if (p.kind === "road") {
              L.geoJSON(f, { style: ROAD_CASING, interactive: false, pane: "civicBase" }).addTo(roads);
              L.geoJSON(f, { style: ROAD_STYLE, interactive: false, pane: "civicBase" }).addTo(roads);
              roadNames.addLayer(label(along(f.geometry, 0.3) || centre, p.name, "map-label-road", "civicLabels"));
            } else if (p.kind === "building") {
              L.geoJSON(f, { style: BUILDING_STYLE, interactive: false, pane: "civicBase" }).addTo(buildings);
              buildingNames.addLayer(label(centre, p.name, "map-label-building", "civicLabels"));
            } else {
              var c = f.geometry.coordinates;
              doors.addLayer(L.circleMarker([c[1], c[0]], L.extend({ interactive: false, pane: "civicBase" }, DOOR_STYLE)));
              doorNames.addLayer(label([c[1], c[0]], p.name, "map-label-door", "civicLabels"));
            }
          });
          el.dataset.buildings = String(counts.building);
          el.dataset.roads = String(counts.road);
          el.dataset.addresses = String(counts.address);
        })
        .catch(function () { /* the outlines stay; the buildings come with the next move */ });
    }
    map.on("moveend", load);
  }

  // ------------------------------------------------------------ the map

  var maps = [];

  function create(el, options) {
    var tiled = !!config.url;
    var opts = L.extend({ zoomSnap: 0.25, maxZoom: tiled ? config.maxZoom || 18 : 19 }, options || {});
    opts.attributionControl = false;
    if (tiled && config.crs === "gcj02") opts.crs = GCJ02;
    var map = L.map(el, opts);
    map.createPane("civicBase").classList.add("civic-base-pane");
    map.createPane("civicLabels").classList.add("civic-labels-pane");
    el.classList.add("civic-map", tiled ? "civic-tiled" : "civic-untiled");
    if (tiled) {
      var layer = {
        subdomains: config.subdomains || "abc",
        maxZoom: config.maxZoom || 18,
        attribution: escapeHtml(config.attribution || ""),
        pane: "tilePane",
      };
      L.tileLayer(config.url, layer).addTo(map);
      if (config.overlay) L.tileLayer(config.overlay, L.extend({}, layer, { attribution: "" })).addTo(map);
      L.control.attribution({ prefix: '<a href="https://leafletjs.com">Leaflet</a>' }).addTo(map);
    } else {
      knownFeatures(map, el);
    }
    // Close in, the areas' fills give way to the buildings under them (basemap.css).
    map.on("zoomend", function () { el.classList.toggle("civic-near", map.getZoom() >= NEAR_ZOOM); });
    maps.push(map);
    return map;
  }

  // The names of the areas a page has drawn, each at a point inside its outline (the
  // server's label_point), each level from the zoom where its areas are wide enough on the
  // screen to carry a name until they are far wider than the screen (grids: always then).
  var LEVELS = ["district", "street", "community", "grid"];
  var NAME_FITS_PX = 100;
  var TOO_WIDE_PX = 2500;

  function zoomWhereWide(spanDegrees, pixels) {
    return Math.log(pixels * 360 / (256 * spanDegrees)) / Math.LN2;
  }

  function labelAreas(map, collection) {
    var groups = {};
    var spans = {};
    var features = (collection && collection.features) || collection || [];
    features.forEach(function (f) {
      var p = f.properties || {};
      if (p.context || LEVELS.indexOf(p.level) < 0 || !p.name) return;
      var bounds = L.geoJSON(f).getBounds();
      var at = p.label_point ? L.latLng(p.label_point[1], p.label_point[0]) : bounds.getCenter();
      groups[p.level] = groups[p.level] || L.layerGroup();
      groups[p.level].addLayer(label(at, p.name, "map-label-area map-label-" + p.level, "civicLabels"));
      (spans[p.level] = spans[p.level] || []).push(bounds.getEast() - bounds.getWest());
    });
    var ranges = Object.keys(groups).map(function (level) {
      var sorted = spans[level].sort(function (a, b) { return a - b; });
      var span = Math.max(sorted[Math.floor(sorted.length / 2)], 1e-6);
      return {
        layer: groups[level],
        min: zoomWhereWide(span, NAME_FITS_PX),
        max: level === "grid" ? 99 : zoomWhereWide(span, TOO_WIDE_PX),
      };
    });
    var update = byZoom(map, ranges);
    if (map._loaded) update();
    map.getContainer().dataset.areaLabels = String(
      Object.keys(groups).reduce(function (n, level) { return n + groups[level].getLayers().length; }, 0)
    );
  }

  // ------------------------------------------------------------ where the pin is
  // A place picker (cases/_place.html) says in words which address its pin is at.

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("[data-place-picker] input[name=lat]")) return;
    var box = input.closest("[data-place-picker]");
    var out = box.querySelector(".place-address");
    var lon = box.querySelector("input[name=lon]");
    if (!out || !lon || !input.value || !lon.value) return;
    var asked = String(input.value) + "," + String(lon.value);
    out.dataset.asked = asked;
    fetch(FEATURES_URL + "/nearest?lat=" + encodeURIComponent(input.value) + "&lon=" + encodeURIComponent(lon.value), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (found) {
        if (!found || out.dataset.asked !== asked) return;
        var text;
        if (!found.address) text = out.dataset.none;
        else if (!found.distance_m) text = out.dataset.inside.replace("__ADDRESS__", found.address);
        else text = out.dataset.near.replace("__ADDRESS__", found.address).replace("__METRES__", String(Math.round(found.distance_m)));
        out.textContent = text;
        out.hidden = false;
        out.dataset.address = found.address || "";
      })
      .catch(function () { out.hidden = true; });
  });

  window.CivicMap = {
    create: create,
    labelAreas: labelAreas,
    maps: maps,
    wgs84ToGcj02: wgs84ToGcj02,
    gcj02ToWgs84: gcj02ToWgs84,
    config: config,
  };
})();
