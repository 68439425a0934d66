// The draw page: draw a digit on #pad with a mouse, finger or pen; it is read
// while you draw.
//
// Strokes are kept as points in pad units (0-1 across), so that the drawing can
// be drawn again at any size: on screen at the device's pixel ratio, after an
// undo, and for the image sent to the service (always EXPORT_SIZE pixels).
(function () {
  "use strict";

  var BRUSH = 1 / 13;  // stroke width as a share of the pad: what the image chain reads best
  var EXPORT_SIZE = 280;
  var READ_DELAY_MS = 200;  // wait this long after the last change before reading

  var pad = document.getElementById("pad");
  var frame = pad.parentElement;
  var context = pad.getContext("2d");
  var undoButton = document.getElementById("undo");
  var message = document.getElementById("message");
  var panel = new window.DigitReader.AnswerPanel(document.getElementById("answer"));

  var strokes = [];
  var current = null;  // the stroke being drawn
  var activePointer = null;
  var timer = null;
  var latest = 0;  // number of the latest reading asked for: only its answer is shown
  var inFlight = null;

  // -- drawing ---------------------------------------------------------------

  function drawStrokes(target, size) {
    target.lineWidth = BRUSH * size;
    target.lineCap = "round";
    target.lineJoin = "round";
    target.strokeStyle = "#111";
    target.fillStyle = "#111";
    strokes.forEach(function (stroke) {
      var points = stroke.map(function (p) { return { x: p.x * size, y: p.y * size }; });
      if (points.length === 1) {
        target.beginPath();
        target.arc(points[0].x, points[0].y, target.lineWidth / 2, 0, 2 * Math.PI);
        target.fill();
        return;
      }
      // Smooth: a quadratic curve through the midpoints, each point a control point.
      target.beginPath();
      target.moveTo(points[0].x, points[0].y);
      for (var i = 1; i < points.length - 1; i++) {
        var middle = { x: (points[i].x + points[i + 1].x) / 2, y: (points[i].y + points[i + 1].y) / 2 };
        target.quadraticCurveTo(points[i].x, points[i].y, middle.x, middle.y);
      }
      var last = points[points.length - 1];
      target.lineTo(last.x, last.y);
      target.stroke();
    });
  }

  function redraw() {
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, pad.width, pad.height);
    drawStrokes(context, pad.width);
    frame.classList.toggle("inked", strokes.length > 0);
    undoButton.disabled = strokes.length === 0;
  }

  // The backing store follows the pad's size on screen times the pixel ratio.
  function fitToScreen() {
    var side = Math.round(pad.getBoundingClientRect().width * (window.devicePixelRatio || 1));
    if (side > 0 && (pad.width !== side || pad.height !== side)) {
      pad.width = side;
      pad.height = side;
    }
    redraw();
  }

  function position(event) {
    var box = pad.getBoundingClientRect();
    return {
      x: Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)),
      y: Math.min(1, Math.max(0, (event.clientY - box.top) / box.height)),
    };
  }

  pad.addEventListener("pointerdown", function (event) {
    if (activePointer !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    activePointer = event.pointerId;
    pad.setPointerCapture(event.pointerId);
    current = [position(event)];
    strokes.push(current);
    message.textContent = "";
    redraw();
    readSoon();
  });

  pad.addEventListener("pointermove", function (event) {
    if (event.pointerId !== activePointer) return;
    var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    (events.length ? events : [event]).forEach(function (each) {
      current.push(position(each));
    });
    redraw();
    readSoon();
  });

  function endStroke(event) {
    if (event.pointerId !== activePointer) return;
    activePointer = null;
    current = null;
    readSoon();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("lostpointercapture", endStroke);

  // -- reading ---------------------------------------------------------------

  function exportImage() {
    var canvas = document.createElement("canvas");
    canvas.width = EXPORT_SIZE;
    canvas.height = EXPORT_SIZE;
    var target = canvas.getContext("2d");
    target.fillStyle = "#fff";
    target.fillRect(0, 0, EXPORT_SIZE, EXPORT_SIZE);
    drawStrokes(target, EXPORT_SIZE);
    return canvas.toDataURL("image/png");
  }

  // Forget any reading asked for or under way: its answer is no longer wanted.
  function cancelReading() {
    clearTimeout(timer);
    timer = null;
    latest += 1;
    if (inFlight) inFlight.abort();
    inFlight = null;
  }

  function readSoon() {
    cancelReading();
    timer = setTimeout(read, READ_DELAY_MS);
  }

  function read() {
    timer = null;
    if (strokes.length === 0) return;
    var number = latest;
    inFlight = window.AbortController ? new AbortController() : null;
    fetch("/api/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ image: exportImage(), source: "canvas" }),
      signal: inFlight ? inFlight.signal : undefined,
    })
      .then(window.DigitReader.readAnswer)
      .then(function (result) {
        if (number !== latest) return;
        inFlight = null;
        if (result.ok) {
          panel.show(result.body);
        } else if (result.body.error.code === "empty_image") {
          panel.clear("No digit found yet: draw it a little bigger.");
        } else {
          panel.clear("");
          message.textContent = result.body.error.message || "The drawing could not be read.";
        }
      })
      .catch(function (error) {
        if (number !== latest || error.name === "AbortError") return;
        inFlight = null;
        message.textContent = "The service could not be reached.";
      });
  }

  // -- buttons ---------------------------------------------------------------

  function afterChange() {
    redraw();
    if (strokes.length) {
      readSoon();
    } else {
      cancelReading();
      panel.clear();
    }
  }

  document.getElementById("clear").addEventListener("click", function () {
    strokes = [];
    message.textContent = "";
    afterChange();
  });

  function undo() {
    if (activePointer !== null || strokes.length === 0) return;
    strokes.pop();
    message.textContent = "";
    afterChange();
  }
  undoButton.addEventListener("click", undo);
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
    }
  });

  if (window.ResizeObserver) {
    new ResizeObserver(fitToScreen).observe(pad);
  } else {
    window.addEventListener("resize", fitToScreen);
  }
  fitToScreen();
})();
