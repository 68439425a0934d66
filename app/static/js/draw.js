// The draw page: draw a digit on #pad with a mouse, finger or pen, and read it.
(function () {
  "use strict";

  var pad = document.getElementById("pad");
  var context = pad.getContext("2d");
  var digit = document.getElementById("digit");
  var confidence = document.getElementById("confidence");
  var message = document.getElementById("message");
  var drawing = false;
  var inked = false;

  function brushWidth() {
    // A stroke about a twelfth of the pad, whatever its size on screen.
    return Math.max(4, Math.round(pad.width / 12));
  }

  function position(event) {
    var box = pad.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * (pad.width / box.width),
      y: (event.clientY - box.top) * (pad.height / box.height),
    };
  }

  function showAnswer(answer) {
    digit.textContent = answer ? String(answer.digit) : "";
    confidence.textContent = answer ? Math.round(answer.confidence * 100) + "%" : "";
  }

  pad.addEventListener("pointerdown", function (event) {
    drawing = true;
    pad.setPointerCapture(event.pointerId);
    var point = position(event);
    context.lineWidth = brushWidth();
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "#000";
    context.beginPath();
    context.moveTo(point.x, point.y);
    context.lineTo(point.x, point.y);
    context.stroke();
    inked = true;
  });

  pad.addEventListener("pointermove", function (event) {
    if (!drawing) return;
    var point = position(event);
    context.lineTo(point.x, point.y);
    context.stroke();
  });

  function stop() { drawing = false; }
  pad.addEventListener("pointerup", stop);
  pad.addEventListener("pointercancel", stop);

  document.getElementById("clear").addEventListener("click", function () {
    context.clearRect(0, 0, pad.width, pad.height);
    inked = false;
    showAnswer(null);
    message.textContent = "";
  });

  document.getElementById("read").addEventListener("click", function () {
    if (!inked) {
      showAnswer(null);
      message.textContent = "Draw a digit first.";
      return;
    }
    message.textContent = "";
    fetch("/api/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ image: pad.toDataURL("image/png"), source: "canvas" }),
    })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (result) {
        if (result.ok) {
          showAnswer(result.body);
        } else {
          showAnswer(null);
          message.textContent = result.body.error.message;
        }
      })
      .catch(function () {
        showAnswer(null);
        message.textContent = "The service could not be reached.";
      });
  });
})();
