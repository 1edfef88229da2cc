// Sending the phone's position with "Open garage", when the browser has
// geolocation and the associate allows it, so the server can check the
// associate is at the address. The form works without this file, and
// without the position: it is asked for only when the button is pressed,
// and a refusal or a slow fix sends the form without it.
(function () {
  "use strict";
  if (!navigator.geolocation) {
    return;
  }
  Array.prototype.forEach.call(document.querySelectorAll("form[data-geo]"), function (form) {
    var lat = form.querySelector("input[name=lat]");
    var lon = form.querySelector("input[name=lon]");
    if (!lat || !lon) {
      return;
    }
    var asked = false;
    form.addEventListener("submit", function (ev) {
      if (asked) {
        return;
      }
      asked = true;
      ev.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
      }
      var sent = false;
      function send() {
        if (sent) {
          return;
        }
        sent = true;
        form.submit();
      }
      navigator.geolocation.getCurrentPosition(function (p) {
        lat.value = String(p.coords.latitude);
        lon.value = String(p.coords.longitude);
        send();
      }, send, { enableHighAccuracy: true, timeout: 8000, maximumAge: 60000 });
      // Some browsers never answer while the permission prompt is open.
      setTimeout(send, 10000);
    });
  });
})();
