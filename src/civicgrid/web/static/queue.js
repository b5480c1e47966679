// The dispatch centre's queue kept current by push (server-sent events from /dispatch/stream:
// the rows shown are redrawn in place, new cases are counted in a quiet notice), the list's
// export link following the filters, the searchable choice of units for a whistle (吹哨),
// and the dispatch sheet's print button. Every page works without it.
(function () {
  "use strict";

  // ---------------------------------------------------------------- the live queue

  function liveQueue(box) {
    var queue = document.getElementById("queue");
    var form = document.getElementById("queue-filters");
    var state = box.querySelector(".live-state");
    var news = box.querySelector(".live-news");
    var text = box.querySelector(".live-text");
    var after = box.dataset.after || "";
    var pending = {}; // case id → "new" | "changed", not in the rows shown
    var source = null;

    function filters() {
      var params = new URLSearchParams(new FormData(form));
      params.delete("page");
      return params;
    }

    function say() {
      var fresh = 0, changed = 0;
      Object.keys(pending).forEach(function (id) {
        if (pending[id] === "new") fresh += 1; else changed += 1;
      });
      var parts = [];
      if (fresh) parts.push(box.dataset.new.replace("__N__", fresh));
      if (changed) parts.push(box.dataset.changed.replace("__N__", changed));
      text.textContent = parts.join(" · ");
      news.hidden = !parts.length;
      box.dataset.pending = String(fresh + changed);
    }

    // Rows already on the page are drawn again where they are: nobody loses her place.
    function redraw(ids) {
      if (!ids.length) return;
      fetch(box.dataset.rows + "?ids=" + ids.join(","), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          var holder = document.createElement("template");
          holder.innerHTML = html;
          holder.content.querySelectorAll("tr[id]").forEach(function (fresh) {
            var old = document.getElementById(fresh.id);
            if (!old) return;
            // What the dispatcher just did to the row stays said.
            var said = old.querySelector(".quick .done, .quick .error");
            var cell = fresh.querySelector(".quick");
            if (said && cell) cell.appendChild(said);
            old.replaceWith(fresh);
            if (window.htmx) window.htmx.process(fresh);
            fresh.classList.add("flash", "changed");
          });
          document.dispatchEvent(new CustomEvent("queue:changed"));
        })
        .catch(function () { /* the next change redraws them */ });
    }

    function changes(event) {
      after = event.lastEventId || after;
      var shown = [];
      JSON.parse(event.data).cases.forEach(function (c) {
        if (document.getElementById("case-" + c.id)) shown.push(c.id);
        else if (c.matches && pending[c.id] !== "new") pending[c.id] = c.new ? "new" : "changed";
      });
      redraw(shown);
      say();
      box.dataset.received = String((parseInt(box.dataset.received || "0", 10) || 0) + 1);
    }

    function connect() {
      if (source) source.close();
      var params = filters();
      if (after) params.set("after", after);
      source = new EventSource(box.dataset.stream + "?" + params.toString());
      source.addEventListener("open", function () {
        state.textContent = box.dataset.on;
        box.classList.add("on");
        box.dataset.connected = "true";
      });
      source.addEventListener("error", function () {
        state.textContent = box.dataset.off;
        box.classList.remove("on");
      });
      source.addEventListener("ready", function (event) { after = event.lastEventId || after; });
      source.addEventListener("changes", changes);
    }

    // "Show": the queue again with its filters and page, in place (no reload).
    box.querySelector(".live-show").addEventListener("click", function () {
      var params = filters();
      var page = new URLSearchParams(window.location.search).get("page");
      if (page) params.set("page", page);
      pending = {};
      say();
      if (window.htmx) {
        window.htmx.ajax("GET", "/dispatch/queue?" + params.toString(), { target: "#queue" });
      } else {
        window.location.reload();
      }
    });

    // New filters: what counts as news changes with them.
    document.body.addEventListener("htmx:afterSettle", function (event) {
      if (event.target !== queue) return;
      var key = filters().toString();
      if (key !== box.dataset.filters) {
        box.dataset.filters = key;
        pending = {};
        say();
        connect();
      }
    });
    box.dataset.filters = filters().toString();
    connect();
  }

  // The export link takes the filters as they are now (all pages).
  function exportLink(link) {
    var form = document.getElementById("queue-filters");
    function update() {
      var params = new URLSearchParams(new FormData(form));
      params.delete("page");
      link.href = link.dataset.base + "?" + params.toString();
    }
    form.addEventListener("change", update);
    form.addEventListener("input", update);
    document.body.addEventListener("htmx:afterSettle", update);
  }

  // ---------------------------------------------------------------- the unit picker
  // Over a plain <select multiple> (which posts the same without JavaScript): type a part
  // of a unit's name, code or area; ↑/↓ and Enter choose, Backspace takes back the last;
  // the chosen units are chips; the lead is one of them.

  var pickers = 0;

  function unitPicker(box) {
    var select = box.querySelector("select[multiple]");
    var form = box.closest("form");
    var lead = form.querySelector("select[data-lead-of]");
    var n = ++pickers;
    var units = Array.prototype.map.call(select.options, function (option) {
      var group = option.parentElement.tagName === "OPTGROUP" ? option.parentElement.label : "";
      return {
        option: option,
        code: option.value,
        name: option.textContent,
        area: option.dataset.area || "",
        group: group,
        key: (option.textContent + " " + option.value + " " + (option.dataset.area || "")).toLowerCase(),
      };
    });
    var leadOptions = lead ? Array.prototype.slice.call(lead.options) : [];
    var MAX_SHOWN = 40;

    box.classList.add("enhanced");
    select.hidden = true;
    select.required = false; // checked below instead: a hidden field cannot show the browser's message
    var hint = box.querySelector(".no-js-hint");
    if (hint) hint.hidden = true;

    var chips = document.createElement("ul");
    chips.className = "chips";
    chips.setAttribute("aria-label", box.dataset.chosen);
    var input = document.createElement("input");
    input.type = "search";
    input.className = "unit-search";
    input.placeholder = box.dataset.placeholder;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", "unit-list-" + n);
    input.setAttribute("aria-label", box.dataset.placeholder);
    input.autocomplete = "off";
    var list = document.createElement("ul");
    list.id = "unit-list-" + n;
    list.className = "unit-options";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-multiselectable", "true");
    list.hidden = true;
    var problem = document.createElement("p");
    problem.className = "field-error";
    problem.setAttribute("role", "alert");
    problem.hidden = true;
    var label = select.closest("label");
    label.after(chips, input, list, problem);
    var active = -1;
    var shown = [];

    function chosen() { return units.filter(function (u) { return u.option.selected; }); }

    function drawChips() {
      chips.textContent = "";
      chosen().forEach(function (u) {
        var chip = document.createElement("li");
        chip.className = "chip chosen-unit";
        chip.dataset.code = u.code;
        var name = document.createElement("span");
        name.textContent = u.name;
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "chip-remove";
        remove.textContent = "×";
        remove.setAttribute("aria-label", box.dataset.remove.replace("__NAME__", u.name));
        remove.addEventListener("click", function () { toggle(u); input.focus(); });
        chip.append(name, remove);
        chips.appendChild(chip);
      });
      drawLead();
    }

    // The lead is one of the chosen units (the first unless another is picked).
    function drawLead() {
      if (!lead) return;
      var picked = chosen().map(function (u) { return u.code; });
      var current = lead.value;
      lead.textContent = "";
      leadOptions.forEach(function (option) {
        if (!option.value || picked.indexOf(option.value) >= 0) lead.appendChild(option);
      });
      lead.value = picked.indexOf(current) >= 0 ? current : "";
    }

    function toggle(u) {
      u.option.selected = !u.option.selected;
      problem.hidden = true;
      drawChips();
      drawList();
    }

    function drawList() {
      var words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      list.textContent = "";
      shown = units.filter(function (u) {
        return words.every(function (w) { return u.key.indexOf(w) >= 0; });
      });
      var more = shown.length - MAX_SHOWN;
      shown = shown.slice(0, MAX_SHOWN);
      if (active >= shown.length) active = shown.length - 1;
      shown.forEach(function (u, i) {
        var item = document.createElement("li");
        item.id = list.id + "-" + i;
        item.className = "unit-option" + (i === active ? " active" : "");
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", String(u.option.selected));
        item.dataset.code = u.code;
        var name = document.createElement("span");
        name.className = "unit-name";
        name.textContent = u.name;
        var where = document.createElement("small");
        where.textContent = [u.area, u.code].filter(Boolean).join(" · ");
        item.append(name, " ", where);
        // mousedown, not click: the input keeps the focus (and a phone its keyboard).
        item.addEventListener("mousedown", function (event) {
          event.preventDefault();
          active = i;
          toggle(u);
        });
        list.appendChild(item);
      });
      if (!shown.length) {
        var none = document.createElement("li");
        none.className = "unit-none";
        none.textContent = box.dataset.empty;
        list.appendChild(none);
      } else if (more > 0) {
        var rest = document.createElement("li");
        rest.className = "unit-none";
        rest.textContent = box.dataset.more.replace("__N__", more);
        list.appendChild(rest);
      }
      if (active >= 0 && shown[active]) input.setAttribute("aria-activedescendant", list.id + "-" + active);
      else input.removeAttribute("aria-activedescendant");
    }

    function open() {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      drawList();
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      active = -1;
    }

    input.addEventListener("input", function () { active = 0; open(); });
    input.addEventListener("focus", open);
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (list.hidden) open();
        active = Math.min(active + 1, shown.length - 1);
        drawList();
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        active = Math.max(active - 1, 0);
        drawList();
      } else if (event.key === "Enter") {
        // Enter chooses; it never sends the form from here.
        event.preventDefault();
        if (!list.hidden && shown[active]) {
          toggle(shown[active]);
          input.select();
        }
      } else if (event.key === "Escape") {
        close();
      } else if (event.key === "Backspace" && !input.value) {
        var last = chosen().pop();
        if (last) toggle(last);
      }
    });

    form.addEventListener("submit", function (event) {
      if (chosen().length >= 2) return;
      event.preventDefault();
      problem.textContent = box.dataset.tooFew;
      problem.hidden = false;
      input.focus();
    });

    drawChips();
  }

  // ---------------------------------------------------------------- wiring

  var live = document.getElementById("queue-live");
  if (live && window.EventSource && document.getElementById("queue-filters")) liveQueue(live);

  var exported = document.getElementById("export-xlsx");
  if (exported && document.getElementById("queue-filters")) exportLink(exported);

  document.querySelectorAll("[data-unit-picker]").forEach(unitPicker);

  var printer = document.getElementById("print-now");
  if (printer) printer.addEventListener("click", function () { window.print(); });
})();
