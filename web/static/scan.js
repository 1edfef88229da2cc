// Scanning a tamper-evident bag with the phone's camera. The bag form works
// without this file: the associate types the ID. With it, a "Scan with
// camera" button appears wherever the browser can open the camera; a
// barcode read fills the field and sends the form, so the server checks the
// bag exactly as if it had been typed.
//
// The reading is done by the browser's own BarcodeDetector where it has one
// for Code 128 (Chrome on Android, Safari 17+ behind a flag), and otherwise
// by ZXing's JavaScript port (zxing/zxing-library.min.js, @zxing/library,
// vendored with its licence), loaded only when the button is pressed in a
// browser that needs it. Which reader is used is decided at that moment.
(function () {
  "use strict";
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return;
  }
  var wanted = ["code_128", "qr_code"];
  var zxingLoad = null;

  // loadZXing adds the vendored decoder's script once and resolves to its
  // global.
  function loadZXing(src) {
    if (window.ZXing) {
      return Promise.resolve(window.ZXing);
    }
    if (!zxingLoad) {
      zxingLoad = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = src;
        s.onload = function () { window.ZXing ? resolve(window.ZXing) : reject(new Error("no ZXing")); };
        s.onerror = function () { zxingLoad = null; reject(new Error("ZXing did not load")); };
        document.head.appendChild(s);
      });
    }
    return zxingLoad;
  }

  // nativeReader resolves to a function reading a video frame with the
  // browser's BarcodeDetector, or to null when there is none for our codes.
  function nativeReader() {
    if (!("BarcodeDetector" in window)) {
      return Promise.resolve(null);
    }
    var supported = window.BarcodeDetector.getSupportedFormats ?
      window.BarcodeDetector.getSupportedFormats() : Promise.resolve(wanted);
    return supported.then(function (have) {
      var formats = wanted.filter(function (f) { return have.indexOf(f) >= 0; });
      if (formats.indexOf("code_128") < 0) {
        return null;
      }
      var detector = new window.BarcodeDetector({ formats: formats });
      return function (video) {
        return detector.detect(video).then(function (codes) {
          return codes.length ? String(codes[0].rawValue || "") : "";
        });
      };
    }, function () { return null; });
  }

  // zxingReader resolves to a function reading a video frame with ZXing:
  // the frame is drawn on a canvas and decoded as Code 128 or QR.
  function zxingReader(src) {
    return loadZXing(src).then(function (Z) {
      var hints = new Map();
      hints.set(Z.DecodeHintType.POSSIBLE_FORMATS, [Z.BarcodeFormat.CODE_128, Z.BarcodeFormat.QR_CODE]);
      hints.set(Z.DecodeHintType.TRY_HARDER, true);
      var reader = new Z.MultiFormatReader();
      reader.setHints(hints);
      var canvas = document.createElement("canvas");
      return function (video) {
        var w = video.videoWidth, h = video.videoHeight;
        if (!w || !h) {
          return Promise.resolve("");
        }
        // A phone's frame is large; the bars stay readable at 960 pixels.
        var scale = Math.min(1, 960 / Math.max(w, h));
        canvas.width = Math.round(w * scale);
        canvas.height = Math.round(h * scale);
        canvas.getContext("2d", { willReadFrequently: true }).drawImage(video, 0, 0, canvas.width, canvas.height);
        try {
          var bitmap = new Z.BinaryBitmap(new Z.HybridBinarizer(new Z.HTMLCanvasElementLuminanceSource(canvas)));
          return Promise.resolve(reader.decodeWithState(bitmap).getText());
        } catch (e) {
          return Promise.resolve(""); // no barcode in this frame
        } finally {
          reader.reset();
        }
      };
    });
  }

  function setUp(form) {
    var start = form.querySelector("[data-scan-start]");
    var view = form.querySelector("[data-scan-view]");
    var video = form.querySelector("[data-scan-video]");
    var status = form.querySelector("[data-scan-status]");
    var stop = form.querySelector("[data-scan-stop]");
    var input = form.querySelector("input[name=bagId]");
    if (!start || !view || !video || !input) {
      return;
    }
    var stream = null;
    var timer = 0;

    function say(key) {
      if (status && status.dataset[key]) {
        status.textContent = status.dataset[key];
      }
    }

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

    function look(read) {
      timer = 0;
      if (!stream) {
        return;
      }
      read(video).then(function (code) {
        code = String(code || "").trim();
        if (code && stream) {
          input.value = code;
          form.dataset.scanned = "camera";
          end();
          if (form.requestSubmit) {
            form.requestSubmit();
          } else {
            form.submit();
          }
          return;
        }
        if (stream) {
          timer = setTimeout(function () { look(read); }, 200);
        }
      }, function () {
        if (stream) {
          timer = setTimeout(function () { look(read); }, 500);
        }
      });
    }

    function unavailable() {
      end();
      say("nocamera");
      view.hidden = false;
      video.hidden = true;
      input.focus();
    }

    start.addEventListener("click", function () {
      var reader = nativeReader().then(function (read) {
        return read || zxingReader(form.dataset.zxing);
      });
      var camera = navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      Promise.all([reader, camera]).then(function (got) {
        stream = got[1];
        video.srcObject = stream;
        video.hidden = false;
        view.hidden = false;
        start.hidden = true;
        say("looking");
        return video.play().then(function () { return got[0]; });
      }).then(function (read) {
        form.dataset.reader = read ? "ready" : "";
        look(read);
      }, function () {
        if (camera) {
          camera.then(function (s) { s.getTracks().forEach(function (t) { t.stop(); }); }, function () {});
        }
        unavailable();
      });
    });
    if (stop) {
      stop.addEventListener("click", end);
    }
    // Leaving the page must not leave the camera on.
    window.addEventListener("pagehide", end);
    start.hidden = false;
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-scan]"), setUp);
})();
