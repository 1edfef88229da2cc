// The hand-over form with a photo, improved: the photo chosen is shown
// before it is sent, the upload shows its progress, and a refusal (no photo,
// not an image, a signature missing) is shown at its field while the form
// keeps everything in it, the photo included. The form works without this
// file: it posts, and the server shows the step again with its inputs.
(function () {
  "use strict";
  var form = document.querySelector("form[data-upload]");
  if (!form || !window.FormData || !window.XMLHttpRequest) {
    return;
  }
  var file = form.querySelector("input[type=file]");
  var preview = form.querySelector(".photo-preview");
  var box = form.querySelector("[data-upload-progress]");
  var bar = box && box.querySelector("progress");
  var words = box && box.querySelector("[data-upload-words]");
  var submit = form.querySelector("button[type=submit]");

  // The preview is drawn on a canvas from the file's bitmap, which needs no
  // blob: image source (the pages' Content-Security-Policy allows none).
  function showPreview() {
    if (!preview) {
      return;
    }
    var f = file.files && file.files[0];
    if (!f || !window.createImageBitmap) {
      preview.hidden = true;
      return;
    }
    createImageBitmap(f).then(function (img) {
      var scale = Math.min(1, 640 / Math.max(img.width, img.height));
      preview.width = Math.round(img.width * scale);
      preview.height = Math.round(img.height * scale);
      preview.getContext("2d").drawImage(img, 0, 0, preview.width, preview.height);
      preview.hidden = false;
      form.dataset.preview = "shown";
    }, function () {
      preview.hidden = true; // not an image the browser can read: the server says so
    });
  }
  if (file) {
    file.addEventListener("change", function () {
      // A new photo answers the refusal of the last one.
      var said = document.getElementById(file.id + "-error");
      if (said) {
        said.remove();
      }
      file.removeAttribute("aria-invalid");
      showPreview();
    });
    showPreview();
  }

  // placeErrors moves the field errors and the alert of a refused answer
  // into this page, next to the same fields.
  function placeErrors(doc) {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (e) { e.remove(); });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (e) { e.removeAttribute("aria-invalid"); });
    var old = document.getElementById("stop-alert");
    if (old) {
      old.remove();
    }
    var alert = doc.getElementById("stop-alert");
    if (alert) {
      form.parentNode.insertBefore(document.importNode(alert, true), form);
    }
    var first = null;
    Array.prototype.forEach.call(doc.querySelectorAll("form[data-upload] .field-error"), function (e) {
      var field = document.getElementById(e.id.replace(/-error$/, ""));
      if (!field || !form.contains(field)) {
        return;
      }
      var after = field === file && preview ? preview : field;
      after.insertAdjacentElement("afterend", document.importNode(e, true));
      field.setAttribute("aria-invalid", "true");
      first = first || field;
    });
    if (first) {
      first.focus();
    } else if (alert) {
      window.scrollTo(0, 0);
    }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    if (box) {
      box.hidden = false;
      bar.value = 0;
      words.textContent = words.dataset.sending;
    }
    submit.disabled = true;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable && bar) {
        bar.value = Math.round(100 * e.loaded / e.total);
      }
    });
    xhr.addEventListener("load", function () {
      submit.disabled = false;
      if (xhr.status < 400) {
        // Delivered: the server redirected to the stop, which the page
        // now shows as it would after a plain post.
        window.location.assign(xhr.responseURL);
        return;
      }
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      if (!doc.querySelector("form[data-upload]")) {
        // Another step answered (the place was refused): show it.
        document.open();
        document.write(xhr.responseText);
        document.close();
        return;
      }
      if (box) {
        box.hidden = true;
      }
      placeErrors(doc);
    });
    xhr.addEventListener("error", function () {
      submit.disabled = false;
      if (words) {
        words.textContent = words.dataset.failed;
      }
    });
    xhr.send(new FormData(form));
  });
  form.dataset.ready = "1"; // for tests: the form now sends through this file
})();
