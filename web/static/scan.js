// Scanning a tamper-evident bag with the phone's camera, where the browser
// has the Shape Detection API's BarcodeDetector. The bag form works without
// this file: the associate types the ID. With it, a "Scan with camera"
// button appears; a barcode read fills the field and sends the form, so the
// server checks the bag exactly as if it had been typed.
(function () {
  "use strict";
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return;
  }
  var wanted = ["code_128", "qr_code"];

  function setUp(form, formats) {
    var start = form.querySelector("[data-scan-start]");
    var view = form.querySelector("[data-scan-view]");
    var video = form.querySelector("[data-scan-video]");
    var status = form.querySelector("[data-scan-status]");
    var stop = form.querySelector("[data-scan-stop]");
    var input = form.querySelector("input[name=bagId]");
    if (!start || !view || !video || !input) {
      return;
    }
    var detector = new window.BarcodeDetector({ formats: formats });
    var stream = null;
    var timer = 0;

    function end() {
      if (timer) {
        clearTimeout(timer);
        timer = 0;
      }
      if (stream) {
        stream.getTracks().forEach(function (t) { t.stop(); });
        stream = null;
      }
      video.srcObject = null;
      view.hidden = true;
      start.hidden = false;
    }

    function look() {
      timer = 0;
      if (!stream) {
        return;
      }
      detector.detect(video).then(function (codes) {
        var code = codes.length ? String(codes[0].rawValue || "").trim() : "";
        if (code && stream) {
          input.value = code;
          end();
          if (form.requestSubmit) {
            form.requestSubmit();
          } else {
            form.submit();
          }
          return;
        }
        if (stream) {
          timer = setTimeout(look, 250);
        }
      }, function () {
        if (stream) {
          timer = setTimeout(look, 500);
        }
      });
    }

    start.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        view.hidden = false;
        start.hidden = true;
        return video.play();
      }).then(function () {
        look();
      }, function () {
        end();
        if (status) {
          status.textContent = "The camera is not available: type the ID printed on the bag.";
        }
        view.hidden = false;
        video.hidden = true;
      });
    });
    if (stop) {
      stop.addEventListener("click", end);
    }
    // Leaving the page must not leave the camera on.
    window.addEventListener("pagehide", end);
    start.hidden = false;
  }

  var forms = document.querySelectorAll("form[data-scan]");
  if (!forms.length) {
    return;
  }
  var supported = window.BarcodeDetector.getSupportedFormats ?
    window.BarcodeDetector.getSupportedFormats() : Promise.resolve(wanted);
  supported.then(function (have) {
    var formats = wanted.filter(function (f) { return have.indexOf(f) >= 0; });
    if (!formats.length) {
      return;
    }
    Array.prototype.forEach.call(forms, function (form) { setUp(form, formats); });
  }, function () {});
})();
