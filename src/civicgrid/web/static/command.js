// The command centre (指挥中心): the wall screen of the viewer's area. The page arrives
// drawn; server-sent events (/command/stream) bring the whole picture again whenever a
// case event happens, and this redraws the tiles, lists and map points without a reload.
(function () {
  "use strict";

  var LIGHT_COLORS = { green: "#2f9e44", yellow: "#f59f00", red: "#e03131", none: "#98a2b3" };
  var wall = document.getElementById("wall");
  if (!wall) return;
  var words = JSON.parse(document.getElementById("command-words").textContent);
  var map = null;
  var points = null;

  function text(el, value) { el.textContent = value; }

  function list(id, items, draw) {
    var box = document.getElementById(id);
    if (!box) return;
    box.replaceChildren();
    if (!items.length) {
      var empty = document.createElement("li");
      empty.className = "muted";
      text(empty, words.none);
      box.appendChild(empty);
      return;
    }
    items.forEach(function (item) { box.appendChild(draw(item)); });
  }

  function bar(label, value, most) {
    var li = document.createElement("li");
    var name = document.createElement("span");
    text(name, label);
    var meter = document.createElement("meter");
    meter.min = 0;
    meter.max = Math.max(most, 1);
    meter.value = value;
    var count = document.createElement("b");
    text(count, String(value));
    li.append(name, meter, count);
    return li;
  }

  function drawMap(summary) {
    if (!window.L) return;
    if (!map) {
      map = CivicMap.create(document.getElementById("command-map"), { preferCanvas: true });
      points = L.layerGroup().addTo(map);
      fetch(wall.dataset.areas, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { features: [] }; })
        .then(function (collection) {
          var layer = L.geoJSON(collection, {
            interactive: false,
            style: function (f) {
              return f.properties.context
                ? { color: "#4b5563", weight: 1, fill: false, dashArray: "4 4" }
                : { color: "#3b82f6", weight: 0.8, fillColor: "#1e293b", fillOpacity: 0.35, className: "area" };
            },
          }).addTo(map);
          CivicMap.labelAreas(map, collection);
          var own = collection.features.filter(function (f) { return !f.properties.context; });
          var bounds = L.geoJSON(own.length ? own : collection.features).getBounds();
          if (bounds.isValid()) map.fitBounds(bounds);
          layer.bringToBack();
        })
        .catch(function () { map.setView([30.66, 104.06], 11); });
    }
    points.clearLayers();
    summary.points.forEach(function (p) {
      L.circleMarker([p[1], p[2]], {
        radius: p[3] === "red" ? 5 : 3.5,
        color: LIGHT_COLORS[p[3]] || LIGHT_COLORS.none,
        weight: 1,
        fillOpacity: 0.85,
      }).bindTooltip("#" + p[0]).addTo(points);
    });
    // Drawn on a canvas: the count of points says what the map shows.
    document.getElementById("command-map").dataset.points = String(summary.points.length);
  }

  function draw(summary) {
    Object.keys(summary.tiles).forEach(function (key) {
      var el = document.querySelector('[data-tile="' + key + '"]');
      if (el) text(el, String(summary.tiles[key]));
    });
    var kpis = document.getElementById("kpis");
    kpis.replaceChildren();
    summary.kpis.forEach(function (k) {
      var tile = document.createElement("div");
      tile.className = "tile kpi";
      var value = document.createElement("span");
      value.className = "value";
      text(value, k.rate === null ? "—" : k.rate + "%");
      var label = document.createElement("span");
      label.className = "label";
      text(label, k.name + " · " + words.month_to_date);
      tile.append(value, label);
      kpis.appendChild(tile);
    });
    var most = summary.tiles.reported_today;
    list("by-channel", Object.keys(summary.by_channel), function (key) {
      return bar(words.channel[key] || key, summary.by_channel[key], most);
    });
    list("by-category", summary.by_category, function (c) { return bar(c.name, c.count, most); });
    list("overdue", summary.overdue, function (c) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = "/cases/" + c.id;
      text(link, "#" + c.id);
      var late = document.createElement("span");
      late.className = "late";
      text(late, words.late.replace("__N__", c.late_hours));
      li.append(link, " " + c.title + " ", late);
      return li;
    });
    list("warnings", summary.warnings, function (w) {
      var li = document.createElement("li");
      li.className = "warning-" + w.kind;
      text(li, w.text);
      return li;
    });
    list("hot", summary.hot, function (h) {
      var li = document.createElement("li");
      var count = document.createElement("b");
      text(count, words.cases.replace("__N__", h.count));
      li.append(h.title + " ", count);
      return li;
    });
    drawMap(summary);
    var updated = document.getElementById("updated");
    updated.setAttribute("datetime", summary.at);
    text(updated, words.updated.replace("__T__", new Date().toLocaleTimeString()));
    wall.dataset.stamp = String(summary.stamp);
  }

  function listen() {
    var live = document.getElementById("live");
    var source = new EventSource(wall.dataset.stream);
    source.addEventListener("open", function () { text(live, live.dataset.on); live.classList.add("on"); });
    source.addEventListener("error", function () { text(live, live.dataset.off); live.classList.remove("on"); });
    source.addEventListener("summary", function (event) { draw(JSON.parse(event.data)); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw(JSON.parse(document.getElementById("command-data").textContent));
    listen();
  });
})();
