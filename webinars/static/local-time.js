/* Show the start in the reader's own zone and preselect that zone in the form. */
(function () {
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) return;
  var el = document.getElementById("local-time");
  var when = el ? new Date(el.getAttribute("datetime")) : null;
  if (when && !isNaN(when.getTime())) {
    var text = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      weekday: "long", day: "numeric", month: "long", year: "numeric",
      hour: "2-digit", minute: "2-digit", hour12: false, timeZone: zone
    }).format(when);
    el.textContent = text + " (" + zone + ")";
    document.getElementById("local-time-block").hidden = false;
  }
  var select = document.getElementById("timezone");
  if (select && !select.getAttribute("data-chosen")) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === zone) { select.value = zone; break; }
    }
  }
})();
