/* The event page's small helpers; the page works without them.
   - "Copy link" is shown only where a script can copy (otherwise the address stays in a
     read-only field to select by hand).
   - On a phone the call-to-action bar at the bottom steps aside while the form's own button
     is on screen. */
(function () {
  var button = document.getElementById("copy-link");
  var field = document.getElementById("share-url");
  var status = document.getElementById("copy-status");
  if (button && field && navigator.clipboard) {
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        status.textContent = button.getAttribute("data-copied");
      }, function () {
        field.select();
      });
    });
  }
  if (field) field.addEventListener("focus", function () { field.select(); });

  var bar = document.getElementById("cta");
  var form = document.querySelector("#register button[type=submit]");
  if (bar && form && "IntersectionObserver" in window) {
    new IntersectionObserver(function (entries) {
      bar.classList.toggle("aside", entries[0].isIntersecting);
    }).observe(form);
  }
})();
