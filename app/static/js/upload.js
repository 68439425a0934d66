// The upload page: choose or drop an image, see it, and read it. Two modes,
// picked with the radio group: "digit" (read by /api/predict, with what the
// model sees of it) and "number" (read digit by digit by /api/read, each digit
// boxed on the picture). Changing the mode reads the chosen image again.
// Without this script the form posts to /upload instead, with the mode.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var SVG = "http://www.w3.org/2000/svg";
  var BADGE_RADIUS = 12;  // px: a digit's label, on the top left corner of its box

  var page = document.getElementById("upload-page");
  var form = document.getElementById("upload-form");
  var input = document.getElementById("image");
  var dropzone = document.getElementById("dropzone");
  var fileName = document.getElementById("file-name");
  var message = document.getElementById("message");
  var previews = document.getElementById("previews");
  var preview = document.getElementById("preview");
  var boxes = document.getElementById("digit-boxes");
  var modelInput = document.getElementById("model-input");
  var modeInputs = Array.prototype.slice.call(form.querySelectorAll('input[name="mode"]'));
  var digitPanel = new window.DigitReader.AnswerPanel(document.getElementById("answer"));
  var numberPanel = new window.DigitReader.NumberPanel(document.getElementById("number-answer"));

  var messages = JSON.parse(form.dataset.messages);
  var maxBytes = Number(form.dataset.maxBytes);
  var boxMargin = Number(form.dataset.boxMargin);
  var accepted = input.accept.split(",");

  var MODES = {
    digit: {
      endpoint: "/api/predict?explain=1",
      show: function (answer) {
        digitPanel.show(answer);
        if (answer.prediction_id) {
          modelInput.src = "/predictions/" + answer.prediction_id + "/input.png";
        }
      },
      clear: function (placeholder) { digitPanel.clear(placeholder); },
    },
    number: {
      endpoint: "/api/read",
      show: function (answer, file, number) {
        numberPanel.show(answer);
        pictureLoaded().then(function () {
          if (number === latest) showBoxes(answer);
        });
      },
      clear: function (placeholder) {
        numberPanel.clear(placeholder);
        showBoxes(null);
      },
    },
  };

  var modeName = "digit";
  var chosen = null;  // the file chosen last
  var latest = 0;  // only the answer for the latest reading is shown
  var previewUrl = null;

  function showPreview(file) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
    modelInput.removeAttribute("src");
    previews.hidden = false;
  }

  // Resolves once the preview is shown, whatever it was (never rejects).
  function pictureLoaded() {
    return preview.decode ? preview.decode().catch(function () {}) : Promise.resolve();
  }

  // The size of the picture the service read, whose pixels the boxes are in
  // (a large picture is read reduced).
  function sizeRead(answer) {
    return { width: answer.image_size[0], height: answer.image_size[1] };
  }

  // Each digit found, boxed and labelled over the picture; none for null.
  // Positions are shares of the picture read, so that they fit the picture
  // at any size while lines and labels keep theirs (as upload.html draws them).
  function showBoxes(answer) {
    boxes.replaceChildren();
    if (!answer || !preview.naturalWidth) return;
    var size = sizeRead(answer);
    var margin = boxMargin * Math.max(size.width, size.height);
    function across(value) { return (100 * value / size.width).toFixed(3) + "%"; }
    function down(value) { return (100 * value / size.height).toFixed(3) + "%"; }
    answer.digits.forEach(function (each) {
      var x = each.box[0], y = each.box[1], width = each.box[2], height = each.box[3];
      var left = across(x - margin);
      var top = down(y - margin);
      var mark = element("g", { "class": "picture-mark" });
      mark.append(
        element("rect", { "class": "picture-box", x: left, y: top, rx: 4,
                          width: across(width + 2 * margin), height: down(height + 2 * margin) }),
        element("circle", { "class": "picture-box-badge", cx: left, cy: top, r: BADGE_RADIUS }),
        element("text", { "class": "picture-box-label", x: left, y: top }, String(each.digit)));
      boxes.appendChild(mark);
    });
  }

  function element(name, attributes, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    if (text) node.textContent = text;
    return node;
  }

  function fail(text) {
    MODES[modeName].clear("");
    message.textContent = text;
  }

  function read(file) {
    var number = ++latest;
    var mode = MODES[modeName];
    var codes = messages[modeName];
    chosen = file;
    fileName.textContent = file.name;
    message.textContent = "";
    if (file.type && accepted.indexOf(file.type) === -1) {
      previews.hidden = true;
      return fail(codes.unsupported_media_type);
    }
    if (file.size > maxBytes) {
      previews.hidden = true;
      return fail(codes.payload_too_large);
    }
    showPreview(file);
    mode.clear("Reading…");
    var body = new FormData();
    body.append("image", file, file.name);
    body.append("source", "upload");
    fetch(mode.endpoint, { method: "POST", headers: { "Accept": "application/json" }, body: body })
      .then(window.DigitReader.readAnswer)
      .then(function (result) {
        if (number !== latest) return;
        if (!result.ok) {
          var code = result.body.error.code;
          return fail(codes[code] || result.body.error.message);
        }
        mode.show(result.body, file, number);
      })
      .catch(function () {
        if (number === latest) fail(codes.network);
      });
  }

  // A new mode shows no answer of the other one, and reads the chosen image again.
  function setMode(name) {
    latest += 1;  // an answer on its way is for the other mode
    Object.keys(MODES).forEach(function (each) { MODES[each].clear(); });
    modeName = name;
    page.dataset.mode = name;
    message.textContent = "";
    if (chosen) read(chosen);
  }

  modeInputs.forEach(function (each) {
    each.addEventListener("change", function () {
      if (each.checked) setMode(each.value);
    });
  });

  input.addEventListener("change", function () {
    if (input.files.length) read(input.files[0]);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.files.length) read(input.files[0]);
    else fail(messages[modeName].invalid_request);
  });

  ["dragenter", "dragover"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      dropzone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    dropzone.addEventListener(type, function () {
      dropzone.classList.remove("dragging");
    });
  });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    try {
      input.files = files;  // so that the form shows, and would send, the dropped file
    } catch (error) { /* older browsers: the file is read all the same */ }
    read(files[0]);
  });

  // The browser may bring back the mode picked before a reload or "back"; a
  // page the server answered in number mode keeps its boxes.
  var picked = modeInputs.filter(function (each) { return each.checked; })[0];
  if (picked && picked.value !== page.dataset.mode) setMode(picked.value);
  else modeName = page.dataset.mode;
})();
