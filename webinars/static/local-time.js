/* local-time.js, the reader's own zone: the server formats every time in the zone this cookie names (a
   member's registration or explicit choice wins over it). On a page shown in another zone
   because the cookie was missing, show it again once in the browser's zone; and preselect
   that zone in a zone form. */
(function () {
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) return;
  var cookie = "tz=" + encodeURIComponent(zone);
  var has = function () { return document.cookie.split("; ").indexOf(cookie) >= 0; };
  if (!has()) document.cookie = cookie + "; path=/; max-age=31536000; SameSite=Lax";
  var shown = document.documentElement.getAttribute("data-reader-zone");
  if (shown && shown !== zone && has()) {
    var key = "tz-shown:" + location.pathname + ":" + zone;
    try {
      if (!sessionStorage.getItem(key)) {  // once: a zone the server refuses cannot loop
        sessionStorage.setItem(key, "1");
        location.reload();
        return;
      }
    } catch (e) { /* no storage: stay on this page */ }
  }
  var select = document.getElementById("timezone");
  if (select && !select.getAttribute("data-chosen")) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === zone) { select.value = zone; break; }
    }
  }
})();
