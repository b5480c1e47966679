// The case pages: the dispatch map of open cases coloured by deadline light, the pin-or-GPS
// place picker of the report forms, and the residents' three-step report with categories
// suggested while typing and open cases of the same problem nearby. The pages work without
// it; this makes them quicker to use.
(function () {
  "use strict";

  var ENGLISH = (document.documentElement.lang || "").indexOf("en") === 0;

  // ---------------------------------------------------------------- base maps
  // The areas' outlines and names over the base map (basemap.js), as on the grid map.

  var AREA_STYLES = {
    district: { color: "#0b2f7a", weight: 2, opacity: 0.7, fill: false },
    street: { color: "#5b8def", weight: 1, opacity: 0.8, fillColor: "#eef3ff", fillOpacity: 0.6 },
    community: { color: "#8aa9e6", weight: 0.8, fillColor: "#f3f6fd", fillOpacity: 0.5 },
    grid: { color: "#3b6fd8", weight: 1.4, fillColor: "#dbe7ff", fillOpacity: 0.45 },
  };
  var CONTEXT_STYLE = { color: "#98a2b3", weight: 1.2, dashArray: "4 4", fill: false };

  function newMap(el) {
    return CivicMap.create(el);
  }

  // Draw the caller's areas under everything else; resolves to the extent of their own areas.
  function drawAreas(map, url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
          return body;
        });
      })
      .then(function (collection) {
        var own = [];
        L.geoJSON(collection, {
          interactive: false,
          style: function (f) {
            if (f.properties.context) return CONTEXT_STYLE;
            return L.extend({ className: "area" }, AREA_STYLES[f.properties.level] || AREA_STYLES.street);
          },
          onEachFeature: function (f) { if (!f.properties.context) own.push(f); },
        }).addTo(map);
        CivicMap.labelAreas(map, collection);
        var extent = L.geoJSON(own.length ? own : collection.features).getBounds();
        return extent.isValid() ? extent : null;
      });
  }

  function showMapError(el, template, reason) {
    var box = document.createElement("p");
    box.className = "error map-error";
    box.setAttribute("role", "alert");
    box.textContent = (template || "").replace("__REASON__", reason);
    el.appendChild(box);
  }

  // ---------------------------------------------------------------- the dispatch map

  var LIGHT_COLORS = { green: "#2f9e44", yellow: "#f59f00", red: "#e03131", none: "#98a2b3" };

  // Every case of the queue's filters is on the map, all pages of it, not only the rows
  // shown: the server counts them per cell of the view (/dispatch/points), so the answer
  // stays small however many cases the city holds. A cell of one case is its dot (a tap
  // shows its row, or opens it); a cell of several is a count, coloured by the worst light
  // among them, and a tap zooms in.
  function dispatchMap(el) {
    var map = newMap(el);
    var markers = L.layerGroup().addTo(map);
    var byId = {};
    var fallback = [30.66, 104.06];
    var asked = 0;
    var ready = false;

    function filters() {
      var form = document.getElementById("queue-filters");
      var params = new URLSearchParams(form ? new FormData(form) : undefined);
      params.delete("page");
      params.delete("csrf_token");
      return params;
    }

    function rowOf(id) { return document.getElementById("case-" + id); }

    function flash(row) {
      row.classList.remove("flash");
      void row.offsetWidth; // restart the animation
      row.classList.add("flash");
    }

    function dot(point) {
      var lat = point[0], lon = point[1], id = point[4], title = point[5];
      var marker = L.circleMarker([lat, lon], {
        radius: 7, weight: 1.5, color: "#ffffff",
        fillColor: LIGHT_COLORS[point[3]] || LIGHT_COLORS.none, fillOpacity: 0.95,
      });
      // A title is what a reporter typed: text, never markup (Leaflet would insert a
      // string tooltip as HTML).
      var tip = document.createElement("span");
      tip.textContent = id + " · " + title;
      marker.bindTooltip(tip, { direction: "top" });
      marker.on("click", function () {
        var row = rowOf(id);
        if (row) {
          row.scrollIntoView({ block: "center", behavior: "smooth" });
          flash(row);
        } else {
          window.location.href = "/cases/" + id;
        }
      });
      byId[id] = marker;
      return marker;
    }

    function cluster(point) {
      var badge = document.createElement("span");
      badge.className = "cluster-count light-" + point[3];
      badge.textContent = String(point[2]);
      var size = point[2] < 10 ? 28 : point[2] < 100 ? 34 : 42;
      var marker = L.marker([point[0], point[1]], {
        icon: L.divIcon({ className: "case-cluster", html: badge, iconSize: [size, size] }),
        keyboard: true,
        title: el.dataset.labelCases.replace("__N__", point[2]),
      });
      marker.on("click", function () {
        map.setView([point[0], point[1]], Math.min(map.getZoom() + 2, 18));
      });
      return marker;
    }

    function load() {
      if (!ready) return;
      var mine = ++asked;
      var b = map.getBounds();
      var params = filters();
      params.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
        .map(function (n) { return n.toFixed(5); }).join(","));
      params.set("zoom", String(Math.round(map.getZoom())));
      fetch(el.dataset.points + "?" + params.toString(), {
        credentials: "same-origin", headers: { Accept: "application/json" },
      })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (!body || mine !== asked) return;
          markers.clearLayers();
          byId = {};
          body.clusters.forEach(function (point) {
            markers.addLayer(point[2] === 1 && point[4] ? dot(point) : cluster(point));
          });
          el.dataset.cases = String(body.total);
          el.dataset.loaded = String(mine);
          var count = el.querySelector(".map-count");
          if (count) count.textContent = el.dataset.labelCases.replace("__N__", body.total);
        })
        .catch(function () { /* the queue still works; the next move asks again */ });
    }

    // How many cases the map holds, in a corner.
    var Count = L.Control.extend({
      onAdd: function () {
        var box = L.DomUtil.create("div", "leaflet-bar map-count");
        box.setAttribute("role", "status");
        return box;
      },
    });
    new Count({ position: "bottomleft" }).addTo(map);

    // Pointing at a row shows its case on the map.
    document.addEventListener("mouseover", function (event) {
      var row = event.target.closest && event.target.closest("tr[data-id]");
      if (!row || !byId[row.dataset.id]) return;
      byId[row.dataset.id].openTooltip();
    });

    map.on("moveend", load);
    drawAreas(map, el.dataset.geojson)
      .then(function (extent) {
        if (extent) map.fitBounds(extent, { padding: [8, 8] });
        else map.setView(fallback, 10);
        ready = true;
        load();
        el.dataset.ready = "true";
        if (!el.dataset.warnings) return null;
        return warningOverlay(map, el).then(function () {
          markers.eachLayer(function (m) { if (m.bringToFront) m.bringToFront(); });
        });
      })
      .catch(function (error) {
        map.setView(fallback, 10);
        ready = true;
        load();
        showMapError(el, el.dataset.failed, error.message);
      });

    // The filters changed (the queue was reloaded) or a case changed (queue.js): the map
    // shows the same cases as the list.
    var later = null;
    function soon() {
      clearTimeout(later);
      later = setTimeout(load, 250);
    }
    document.body.addEventListener("htmx:afterSettle", soon);
    document.addEventListener("queue:changed", soon);
  }

  // ---------------------------------------------------------------- warnings on the map
  // Open hot spots and surges of the caller's area over the cases, each grid (a hot spot's
  // cluster) filled by kind, its explanation on a tap; a control in the corner hides them.

  var WARNING_COLORS = { hotspot: "#c2255c", surge: "#e8590c" };

  function warningOverlay(map, el) {
    var layer = L.layerGroup().addTo(map);
    var Toggle = L.Control.extend({
      onAdd: function () {
        var box = L.DomUtil.create("div", "leaflet-bar warning-toggle");
        var label = L.DomUtil.create("label", "", box);
        var check = L.DomUtil.create("input", "", label);
        check.type = "checkbox";
        check.checked = true;
        check.id = "warnings-toggle";
        label.appendChild(document.createTextNode(" " + el.dataset.labelToggle));
        var link = L.DomUtil.create("a", "", box);
        link.href = "/warnings";
        link.textContent = el.dataset.labelList;
        L.DomEvent.disableClickPropagation(box);
        check.addEventListener("change", function () {
          if (check.checked) layer.addTo(map); else layer.remove();
        });
        return box;
      },
    });
    new Toggle({ position: "topright" }).addTo(map);

    function popup(props) {
      var box = document.createElement("div");
      box.className = "warning-popup";
      var title = document.createElement("strong");
      var kind = props.kind === "surge" ? el.dataset.labelSurge : el.dataset.labelHotspot;
      title.textContent = kind + " #" + props.id;
      var words = document.createElement("p");
      words.textContent = props.explanation; // text, never markup
      var link = document.createElement("a");
      link.href = "/warnings#warning-" + props.id;
      link.textContent = el.dataset.labelList;
      box.appendChild(title);
      box.appendChild(words);
      box.appendChild(link);
      return box;
    }

    return fetch(el.dataset.warnings, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { features: [] }; })
      .then(function (collection) {
        L.geoJSON(collection, {
          style: function (f) {
            var color = WARNING_COLORS[f.properties.kind] || WARNING_COLORS.hotspot;
            return {
              color: color, weight: 2.5, fillColor: color,
              fillOpacity: f.properties.state === "new" ? 0.35 : 0.15,
              dashArray: f.properties.state === "acknowledged" ? "6 4" : null,
            };
          },
          onEachFeature: function (f, shape) { shape.bindPopup(popup(f.properties)); },
        }).addTo(layer);
        el.dataset.warningCount = String(collection.features.length);
      })
      .catch(function () { el.dataset.warningCount = "0"; });
  }

  // ---------------------------------------------------------------- the place picker

  var pickers = [];

  function placePicker(box) {
    var mapEl = box.querySelector(".mini-map");
    var latInput = box.querySelector("input[name=lat]");
    var lonInput = box.querySelector("input[name=lon]");
    var status = box.querySelector(".place-status");
    var map = newMap(mapEl);
    var pin = null;
    var extent = null;
    var lookup = 0;

    function say(text, isError) {
      status.textContent = text;
      status.classList.toggle("error", !!isError);
    }

    function put(lat, lon, zoomTo) {
      latInput.value = lat.toFixed(6);
      lonInput.value = lon.toFixed(6);
      if (pin) pin.setLatLng([lat, lon]);
      else pin = L.marker([lat, lon]).addTo(map);
      if (zoomTo) map.setView([lat, lon], Math.max(map.getZoom() || 0, 16));
      box.dataset.placed = "true";
      name(lat, lon);
      latInput.dispatchEvent(new Event("change", { bubbles: true }));
    }

    // Say which grid the pin is in, so a wrong tap shows before the report is sent.
    function name(lat, lon) {
      var mine = ++lookup;
      fetch("/api/v1/areas/locate?lat=" + lat + "&lon=" + lon, { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          if (mine !== lookup) return;
          if (!body.grid) { say(body.error ? body.error.message : "", true); return; }
          var text = box.dataset.located.replace("__NAME__", body.grid.name);
          var outside = box.dataset.ownGrid && body.grid.code !== box.dataset.ownGrid;
          say(outside ? text + " — " + box.dataset.outside : text, outside);
          box.dataset.grid = body.grid.code;
        })
        .catch(function (error) { say(box.dataset.failed.replace("__REASON__", error.message), true); });
    }

    map.on("click", function (event) { put(event.latlng.lat, event.latlng.lng, false); });

    var gps = box.querySelector(".gps");
    if (!navigator.geolocation) gps.hidden = true;
    gps.addEventListener("click", function () {
      say(box.dataset.locating, false);
      navigator.geolocation.getCurrentPosition(
        function (position) { put(position.coords.latitude, position.coords.longitude, true); },
        function (error) { say(box.dataset.failed.replace("__REASON__", error.message), true); },
        { enableHighAccuracy: true, timeout: 15000 }
      );
    });

    // Fitting a map that is hidden (a closed form, another step) has no size to fit into;
    // it is refreshed again when it shows.
    function refresh() {
      if (!mapEl.offsetWidth || !mapEl.offsetHeight) return;
      map.invalidateSize();
      if (pin) map.setView(pin.getLatLng(), Math.max(map.getZoom() || 0, 15));
      else if (extent) map.fitBounds(extent, { padding: [6, 6] });
    }

    map.setView([30.66, 104.06], 11);
    drawAreas(map, mapEl.dataset.geojson)
      .then(function (found) {
        extent = found;
        refresh();
        mapEl.dataset.ready = "true";
      })
      .catch(function (error) { showMapError(mapEl, box.dataset.failed, error.message); });

    // A form sent back with an error keeps its pin.
    var lat = parseFloat(latInput.value), lon = parseFloat(lonInput.value);
    if (!isNaN(lat) && !isNaN(lon)) put(lat, lon, false);

    pickers.push({ box: box, refresh: refresh });
  }

  // A map inside something hidden has no size; measure it again once it shows.
  function refreshPickersIn(root) {
    pickers.forEach(function (p) { if (root.contains(p.box)) p.refresh(); });
  }

  // ---------------------------------------------------------------- the three-step report

  function steppedForm(form) {
    var steps = Array.prototype.slice.call(form.querySelectorAll("[data-step]"));
    form.querySelectorAll(".step-buttons").forEach(function (p) { p.hidden = false; });

    function show(number) {
      steps.forEach(function (step) { step.hidden = step.dataset.step !== String(number); });
      form.dataset.current = String(number);
      refreshPickersIn(form);
      form.dispatchEvent(new CustomEvent("stepshown", { detail: number }));
    }
    form.addEventListener("click", function (event) {
      var current = parseInt(form.dataset.current, 10);
      if (event.target.closest(".step-next")) show(Math.min(current + 1, steps.length));
      else if (event.target.closest(".step-back")) show(Math.max(current - 1, 1));
    });
    show(parseInt(form.dataset.startStep, 10) || 1);
  }

  // ---------------------------------------------------------------- the residents' report
  // While she types, the three categories that fit best are offered as chips and the best
  // one is chosen when the suggester is sure of it (until she chooses herself); once the category and the pin are known,
  // open cases of the same problem nearby are shown, each with a button to add her voice.

  function residentReport(form) {
    var text = form.querySelector("textarea[data-suggest]");
    var select = form.querySelector("select[name=category]");
    var chips = form.querySelector(".suggestions");
    var nearby = form.querySelector("#nearby");
    var lat = form.querySelector("input[name=lat]");
    var lon = form.querySelector("input[name=lon]");
    var typing = null;
    var asked = 0;
    var chosenByHand = !!select.value;

    function label(item) { return ENGLISH && item.name_en ? item.name_en : item.name; }

    function showChips(items) {
      chips.textContent = "";
      chips.hidden = !items.length;
      if (!items.length) return;
      var title = document.createElement("span");
      title.className = "chips-label";
      title.textContent = chips.dataset.label;
      chips.appendChild(title);
      items.forEach(function (item) {
        var chip = document.createElement("button");
        chip.type = "button";
        chip.className = "chip";
        chip.dataset.code = item.code;
        chip.textContent = label(item);
        chip.setAttribute("aria-pressed", String(select.value === item.code));
        chips.appendChild(chip);
      });
    }

    function markChips() {
      chips.querySelectorAll(".chip").forEach(function (chip) {
        chip.setAttribute("aria-pressed", String(select.value === chip.dataset.code));
      });
    }

    function suggest() {
      var words = text.value.trim();
      var mine = ++asked;
      if (!words) { showChips([]); return; }
      fetch(text.dataset.suggest + "?text=" + encodeURIComponent(words), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(function (items) {
          if (mine !== asked) return;
          // Chosen for her only when the suggester is sure (cases.ports.is_sure); else
          // the chips are offered and she picks.
          if (items.length && !chosenByHand && items[0].sure) {
            select.value = items[0].code;
            loadNearby();
          }
          showChips(items);
          form.dataset.suggested = items.length ? items[0].code : "";
        })
        .catch(function () { /* typing goes on; the server suggests when sent */ });
    }

    function loadNearby() {
      if (!nearby) return;
      if (!select.value || !lat.value || !lon.value) { nearby.textContent = ""; return; }
      var query = "?category=" + encodeURIComponent(select.value) + "&lat=" +
        encodeURIComponent(lat.value) + "&lon=" + encodeURIComponent(lon.value);
      fetch(nearby.dataset.url + query, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          nearby.innerHTML = html;
          nearby.dataset.loaded = "true";
        })
        .catch(function () { nearby.textContent = ""; });
    }

    text.addEventListener("input", function () {
      clearTimeout(typing);
      typing = setTimeout(suggest, 300);
    });
    chips.addEventListener("click", function (event) {
      var chip = event.target.closest(".chip");
      if (!chip) return;
      select.value = chip.dataset.code;
      chosenByHand = true;
      markChips();
      loadNearby();
    });
    select.addEventListener("change", function () {
      chosenByHand = !!select.value;
      markChips();
      loadNearby();
    });
    lat.addEventListener("change", loadNearby);
    form.addEventListener("stepshown", function (event) { if (event.detail === 3) loadNearby(); });
    if (text.value.trim()) suggest();
    loadNearby();
  }

  // ---------------------------------------------------------------- wiring

  var caseMap = document.getElementById("case-map");
  if (caseMap && window.L) dispatchMap(caseMap);

  if (window.L) document.querySelectorAll("[data-place-picker]").forEach(placePicker);

  var report = document.getElementById("resident-report");
  if (report) residentReport(report);

  document.querySelectorAll("form[data-start-step]").forEach(steppedForm);

  document.addEventListener("toggle", function (event) {
    if (event.target.open) refreshPickersIn(event.target);
  }, true);
})();
