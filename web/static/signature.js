// The signing pad of a hand-over: the signer draws with a finger (or a pen
// or mouse) on the canvas, through pointer events, and the drawing goes with
// the form as a PNG. Without this file the form sends the printed name only,
// recorded as the weaker typed signature.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-signature]"), function (pad) {
    var form = pad.closest("form");
    var canvas = pad.querySelector("canvas");
    var kind = form.querySelector("input[name=signatureKind]");
    var image = form.querySelector("input[name=signatureImage]");
    var typed = document.getElementById("signature-typed");
    var ctx = canvas.getContext && canvas.getContext("2d");
    if (!ctx || !window.PointerEvent) {
      return;
    }
    pad.hidden = false;
    if (typed) {
      typed.hidden = true;
    }
    kind.value = "DRAWN";
    // The page scrolls around the pad, never while signing on it.
    canvas.style.touchAction = "none";
    var drawn = false;
    var last = null;
    function blank() {
      // JPEG has no transparency: the server keeps ink on white.
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2.5;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      drawn = false;
      image.value = "";
    }
    function at(ev) {
      var r = canvas.getBoundingClientRect();
      return { x: (ev.clientX - r.left) * canvas.width / r.width, y: (ev.clientY - r.top) * canvas.height / r.height };
    }
    blank();
    canvas.addEventListener("pointerdown", function (ev) {
      ev.preventDefault();
      canvas.setPointerCapture(ev.pointerId);
      last = at(ev);
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (!last) {
        return;
      }
      var p = at(ev);
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      ctx.lineTo(p.x, p.y);
      ctx.stroke();
      last = p;
      drawn = true;
    });
    function lift() {
      last = null;
      if (drawn) {
        image.value = canvas.toDataURL("image/png");
      }
    }
    canvas.addEventListener("pointerup", lift);
    canvas.addEventListener("pointercancel", lift);
    document.getElementById("signature-clear").addEventListener("click", blank);
  });
})();
