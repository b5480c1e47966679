// The hotline form (来电登记). While the agent types: the caller's earlier cases by her
// phone, the registry's standard addresses as she spells the address (a chosen one places
// the case at its point), the categories that fit what happened with the suggester's
// confidence (never chosen for her: she confirms one with a click, or picks another), and
// open cases of the same problem near the chosen address. Without JavaScript the form still works: the server looks the
// phone up, places a typed address and checks every field.
(function () {
  "use strict";

  var form = document.getElementById("hotline-form");
  if (!form) return;
  var ENGLISH = (document.documentElement.lang || "").indexOf("en") === 0;

  var phone = form.querySelector("#hotline-phone");
  var history = form.querySelector("#caller-history");
  var address = form.querySelector("#hotline-address");
  var addressId = form.querySelector("input[name=address_id]");
  var lat = form.querySelector("input[name=lat]");
  var lon = form.querySelector("input[name=lon]");
  var options = form.querySelector("#standard-addresses");
  var note = form.querySelector("#address-note");
  var text = form.querySelector("#hotline-description");
  var chips = form.querySelector("#hotline-suggestions");
  var select = form.querySelector("#hotline-category");
  var nearby = form.querySelector("#hotline-nearby");
  var known = {}; // address text → {id, lat, lon, grid}
  var timers = {};
  var asked = { caller: 0, address: 0, suggest: 0, nearby: 0 };

  function later(name, work, ms) {
    clearTimeout(timers[name]);
    timers[name] = setTimeout(work, ms);
  }

  function get(url, kind, done) {
    var mine = ++asked[kind];
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) return null;
        return kind === "address" || kind === "suggest" ? response.json() : response.text();
      })
      .then(function (body) { if (mine === asked[kind] && body !== null) done(body); })
      .catch(function () { /* the form still sends; the server checks */ });
  }

  // ------------------------------------------------------------ the caller's earlier cases

  function digits(value) { return value.replace(/\D/g, ""); }

  function lookUp() {
    var number = phone.value.trim();
    if (digits(number).length < 6) { history.textContent = ""; return; }
    get(form.dataset.caller + "?phone=" + encodeURIComponent(number), "caller", function (html) {
      history.innerHTML = html;
    });
  }

  phone.addEventListener("input", function () { later("caller", lookUp, 350); });

  // ------------------------------------------------------------ standard addresses

  function place(found) {
    addressId.value = found ? String(found.id) : "";
    lat.value = found && found.lat !== null ? String(found.lat) : "";
    lon.value = found && found.lon !== null ? String(found.lon) : "";
    if (found) note.textContent = form.dataset.chosen.replace("__GRID__", found.grid || "");
    else note.textContent = address.value.trim() ? form.dataset.free : "";
    note.classList.toggle("placed", !!found);
    loadNearby();
  }

  function suggestAddresses() {
    var typed = address.value.trim();
    if (typed.length < 2) { options.textContent = ""; return; }
    get(form.dataset.addresses + "?q=" + encodeURIComponent(typed), "address", function (items) {
      options.textContent = "";
      items.forEach(function (item) {
        known[item.text] = item;
        var option = document.createElement("option");
        option.value = item.text;
        if (item.grid) option.label = item.grid;
        options.appendChild(option);
      });
      place(known[address.value.trim()] || null);
    });
  }

  address.addEventListener("input", function () {
    var exact = known[address.value.trim()];
    if (exact) { place(exact); return; }
    if (addressId.value) place(null);
    later("address", suggestAddresses, 250);
  });
  address.addEventListener("change", function () { place(known[address.value.trim()] || null); });

  // ------------------------------------------------------------ categories to confirm

  function label(item) { return ENGLISH && item.name_en ? item.name_en : item.name; }

  function markChips() {
    chips.querySelectorAll(".chip").forEach(function (chip) {
      chip.setAttribute("aria-pressed", String(select.value === chip.dataset.code));
    });
  }

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
      chip.textContent = label(item) + " · " + Math.round(item.confidence * 100) + "%";
      chips.appendChild(chip);
    });
    markChips();
  }

  function suggest() {
    var words = text.value.trim();
    if (!words) { showChips([]); return; }
    get(form.dataset.suggest + "?text=" + encodeURIComponent(words), "suggest", showChips);
  }

  text.addEventListener("input", function () { later("suggest", suggest, 300); });
  chips.addEventListener("click", function (event) {
    var chip = event.target.closest(".chip");
    if (!chip) return;
    select.value = chip.dataset.code;
    markChips();
    loadNearby();
  });
  select.addEventListener("change", function () {
    markChips();
    loadNearby();
  });

  // ------------------------------------------------------------ the same problem nearby

  function loadNearby() {
    if (!select.value || !lat.value || !lon.value) { nearby.textContent = ""; return; }
    var query = "?category=" + encodeURIComponent(select.value) + "&lat=" +
      encodeURIComponent(lat.value) + "&lon=" + encodeURIComponent(lon.value);
    get(form.dataset.nearby + query, "nearby", function (html) { nearby.innerHTML = html; });
  }

  if (text.value.trim()) suggest();
  if (address.value.trim()) suggestAddresses();
})();
