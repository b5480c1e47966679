// The language switch keeps what was typed: before the page is fetched again in the other
// language, the values of the page's form fields are kept for this tab (sessionStorage), and
// put back into the same fields when the page comes back. Passwords, files and the CSRF
// token are never kept.
(function () {
  "use strict";
  var KEY = "civicgrid.typed:";

  function fields() {
    return Array.prototype.filter.call(
      document.querySelectorAll("form input, form textarea, form select"),
      function (el) {
        var type = (el.type || "").toLowerCase();
        return el.name && el.name !== "csrf_token" && type !== "password" && type !== "file" &&
          type !== "hidden" && type !== "submit" && type !== "button";
      }
    );
  }

  function nameOf(el, index) {
    var form = el.form;
    var formIndex = Array.prototype.indexOf.call(document.forms, form);
    return formIndex + ":" + el.name + ":" + index;
  }

  function keep(target) {
    var values = {};
    var seen = {};
    fields().forEach(function (el) {
      var base = el.form ? el.name : "";
      var index = seen[base] = (seen[base] || 0) + 1;
      var name = nameOf(el, index);
      if (el.type === "checkbox" || el.type === "radio") values[name] = el.checked;
      else if (el.multiple) values[name] = Array.prototype.map.call(el.selectedOptions, function (o) { return o.value; });
      else values[name] = el.value;
    });
    try {
      sessionStorage.setItem(KEY + target, JSON.stringify(values));
    } catch (e) { /* storage full or refused: the switch still works */ }
  }

  function restore() {
    var here = location.pathname + location.search;
    var kept;
    try {
      kept = sessionStorage.getItem(KEY + here);
      sessionStorage.removeItem(KEY + here);
    } catch (e) { return; }
    if (!kept) return;
    var values = JSON.parse(kept);
    var seen = {};
    fields().forEach(function (el) {
      var base = el.form ? el.name : "";
      var index = seen[base] = (seen[base] || 0) + 1;
      var name = nameOf(el, index);
      if (!(name in values)) return;
      var value = values[name];
      if (el.type === "checkbox" || el.type === "radio") el.checked = !!value;
      else if (el.multiple && Array.isArray(value)) {
        Array.prototype.forEach.call(el.options, function (o) { o.selected = value.indexOf(o.value) >= 0; });
      } else if (typeof value === "string") el.value = value;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var link = document.getElementById("lang-switch");
    if (link) {
      link.addEventListener("click", function () {
        keep(location.pathname + location.search);
      });
    }
    restore();
  });
})();
