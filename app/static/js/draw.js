// The draw page: draw a digit, or a whole number, on #pad with a mouse, finger
// or pen; it is read while you draw.
//
// Two modes, picked with the radio group: "digit" (a square pad, read by
// /api/predict) and "number" (a wide pad, read digit by digit by /api/read,
// with a box drawn around each digit found). Drawing, undo, clear and the
// reading (delayed, and only the latest answer shown) are the same for both;
// MODES holds what differs.
//
// Strokes are kept as points in pad units (0-1 across and 0-1 down), so that
// the drawing can be drawn again at any size: on screen at the device's pixel
// ratio, after an undo, and for the image sent to the service (always
// EXPORT_HEIGHT pixels high, and as wide as the pad's shape makes it).
(function () {
  "use strict";

  // The stroke width as a share of the pad's height: what the image chain reads
  // best, since a digit is drawn about as tall as the pad in either mode.
  var BRUSH = 1 / 13;
  var EXPORT_HEIGHT = 280;
  var READ_DELAY_MS = 200;  // wait this long after the last change before reading

  var page = document.getElementById("draw-page");
  var pad = document.getElementById("pad");
  var frame = pad.parentElement;
  var boxes = document.getElementById("pad-boxes");
  var context = pad.getContext("2d");
  var undoButton = document.getElementById("undo");
  var message = document.getElementById("message");
  var modeInputs = Array.prototype.slice.call(document.querySelectorAll('input[name="mode"]'));
  var digitPanel = new window.DigitReader.AnswerPanel(document.getElementById("answer"));
  var numberPanel = new window.DigitReader.NumberPanel(document.getElementById("number-answer"));

  var MODES = {
    digit: {
      endpoint: "/api/predict?explain=1",
      notFound: "No digit found yet: draw it a little bigger.",
      show: function (answer) { digitPanel.show(answer); },
      clear: function (placeholder) { digitPanel.clear(placeholder); },
    },
    number: {
      endpoint: "/api/read",
      notFound: "No number found yet: draw its digits a little bigger.",
      show: function (answer, image) {
        numberPanel.show(answer);
        showBoxes(answer.digits, image);
      },
      clear: function (placeholder) {
        numberPanel.clear(placeholder);
        showBoxes([], null);
      },
    },
  };

  var mode = MODES.digit;
  var strokes = [];
  var current = null;  // the stroke being drawn
  var activePointer = null;
  var timer = null;
  var latest = 0;  // number of the latest reading asked for: only its answer is shown
  var inFlight = null;

  // -- drawing ---------------------------------------------------------------

  function drawStrokes(target, width, height) {
    target.lineWidth = BRUSH * height;
    target.lineCap = "round";
    target.lineJoin = "round";
    target.strokeStyle = "#111";
    target.fillStyle = "#111";
    strokes.forEach(function (stroke) {
      var points = stroke.map(function (p) { return { x: p.x * width, y: p.y * height }; });
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
    drawStrokes(context, pad.width, pad.height);
    frame.classList.toggle("inked", strokes.length > 0);
    undoButton.disabled = strokes.length === 0;
  }

  // The backing store follows the pad's drawing area on screen (inside its
  // border) times the pixel ratio.
  function fitToScreen() {
    var ratio = window.devicePixelRatio || 1;
    var width = Math.round(pad.clientWidth * ratio);
    var height = Math.round(pad.clientHeight * ratio);
    if (width > 0 && height > 0 && (pad.width !== width || pad.height !== height)) {
      pad.width = width;
      pad.height = height;
    }
    redraw();
  }

  function position(event) {
    var box = pad.getBoundingClientRect();
    var left = box.left + pad.clientLeft;
    var top = box.top + pad.clientTop;
    return {
      x: Math.min(1, Math.max(0, (event.clientX - left) / pad.clientWidth)),
      y: Math.min(1, Math.max(0, (event.clientY - top) / pad.clientHeight)),
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

  // The digits found in number mode, outlined over the pad. Their boxes are in
  // pixels of the image sent; as shares of it, they fit the pad at any size.
  function showBoxes(digits, image) {
    boxes.replaceChildren.apply(boxes, digits.map(function (each) {
      var outline = document.createElement("div");
      outline.className = "digit-box";
      outline.style.left = (100 * each.box[0] / image.width) + "%";
      outline.style.top = (100 * each.box[1] / image.height) + "%";
      outline.style.width = (100 * each.box[2] / image.width) + "%";
      outline.style.height = (100 * each.box[3] / image.height) + "%";
      var label = document.createElement("span");
      label.className = "digit-box-label";
      label.textContent = String(each.digit);
      outline.appendChild(label);
      return outline;
    }));
  }

  // -- reading ---------------------------------------------------------------

  // The drawing as a white PNG, EXPORT_HEIGHT high and of the pad's shape.
  function exportImage() {
    var shape = pad.clientHeight > 0 ? pad.clientWidth / pad.clientHeight : 1;
    var canvas = document.createElement("canvas");
    canvas.width = Math.round(EXPORT_HEIGHT * shape);
    canvas.height = EXPORT_HEIGHT;
    var target = canvas.getContext("2d");
    target.fillStyle = "#fff";
    target.fillRect(0, 0, canvas.width, canvas.height);
    drawStrokes(target, canvas.width, canvas.height);
    return { dataUrl: canvas.toDataURL("image/png"), width: canvas.width, height: canvas.height };
  }

  // Forget any reading asked for or under way: its answer is no longer wanted.
  function cancelReading() {
    clearTimeout(timer);
    timer = null;
    latest += 1;
    if (inFlight) inFlight.abort();
    inFlight = null;
  }

  // The answer shown is for an older drawing until the next one comes: no
  // label may be given to it meanwhile (it would teach the model the wrong drawing).
  function setStale(stale) {
    frame.classList.toggle("stale", stale);
    digitPanel.setStale(stale);
  }

  function readSoon() {
    cancelReading();
    setStale(true);
    timer = setTimeout(read, READ_DELAY_MS);
  }

  function read() {
    timer = null;
    if (strokes.length === 0) return;
    var number = latest;
    var reading = mode;
    var image = exportImage();
    inFlight = window.AbortController ? new AbortController() : null;
    fetch(reading.endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ image: image.dataUrl, source: "canvas" }),
      signal: inFlight ? inFlight.signal : undefined,
    })
      .then(window.DigitReader.readAnswer)
      .then(function (result) {
        if (number !== latest) return;
        inFlight = null;
        setStale(false);
        if (result.ok) {
          reading.show(result.body, image);
        } else if (result.body.error.code === "empty_image") {
          reading.clear(reading.notFound);
        } else {
          reading.clear("");
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
      setStale(false);
      mode.clear();
    }
  }

  function clearPad() {
    strokes = [];
    current = null;
    activePointer = null;
    message.textContent = "";
    afterChange();
  }
  document.getElementById("clear").addEventListener("click", clearPad);

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

  // -- modes -----------------------------------------------------------------

  // A new mode starts on a clean pad, with no answer from the other one left.
  function setMode(name) {
    Object.keys(MODES).forEach(function (each) { MODES[each].clear(); });
    mode = MODES[name];
    page.dataset.mode = name;
    pad.setAttribute("aria-label", pad.getAttribute("data-label-" + name));
    clearPad();
    fitToScreen();  // the pad's shape changed
  }

  modeInputs.forEach(function (input) {
    input.addEventListener("change", function () {
      if (input.checked) setMode(input.value);
    });
  });

  if (window.ResizeObserver) {
    new ResizeObserver(fitToScreen).observe(pad);
  } else {
    window.addEventListener("resize", fitToScreen);
  }
  // The browser may bring back the mode picked before a reload or "back".
  var picked = modeInputs.filter(function (input) { return input.checked; })[0];
  setMode(picked ? picked.value : "digit");
})();
