/* The personal page's "Join" button turns into the link once the meeting opens, without a
   reload (without a script, reloading the page does it). */
(function () {
  var button = document.getElementById("join-button");
  if (!button || !button.disabled) return;
  var opens = Date.parse(button.getAttribute("data-opens-at"));
  if (isNaN(opens)) return;
  var activate = function () {
    var link = document.createElement("a");
    link.className = "button big";
    link.id = "join-button";
    link.href = button.getAttribute("data-href");
    link.textContent = button.textContent;
    button.replaceWith(link);
    var note = document.getElementById("join-opens");
    if (note) note.hidden = true;
  };
  var wait = opens - Date.now();
  if (wait <= 0) activate();
  else if (wait < 2147483647) setTimeout(activate, wait);
})();
