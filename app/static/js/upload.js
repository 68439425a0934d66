// The upload page: choose or drop an image, see it, see what the model sees
// of it, and read it. Without this script the form posts to /upload instead.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var form = document.getElementById("upload-form");
  var input = document.getElementById("image");
  var dropzone = document.getElementById("dropzone");
  var fileName = document.getElementById("file-name");
  var message = document.getElementById("message");
  var previews = document.getElementById("previews");
  var preview = document.getElementById("preview");
  var modelInput = document.getElementById("model-input");
  var panel = new window.DigitReader.AnswerPanel(document.getElementById("answer"));

  var messages = JSON.parse(form.dataset.messages);
  var maxBytes = Number(form.dataset.maxBytes);
  var accepted = input.accept.split(",");
  var latest = 0;  // only the answer for the latest file is shown
  var previewUrl = null;

  function showPreview(file) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
    modelInput.removeAttribute("src");
    previews.hidden = false;
  }

  function fail(text) {
    panel.clear("");
    message.textContent = text;
  }

  function read(file) {
    var number = ++latest;
    fileName.textContent = file.name;
    message.textContent = "";
    if (file.type && accepted.indexOf(file.type) === -1) {
      previews.hidden = true;
      return fail(messages.unsupported_media_type);
    }
    if (file.size > maxBytes) {
      previews.hidden = true;
      return fail(messages.payload_too_large);
    }
    showPreview(file);
    panel.clear("Reading…");
    var body = new FormData();
    body.append("image", file, file.name);
    body.append("source", "upload");
    fetch("/api/predict?explain=1", { method: "POST", headers: { "Accept": "application/json" }, body: body })
      .then(window.DigitReader.readAnswer)
      .then(function (result) {
        if (number !== latest) return;
        if (!result.ok) {
          var code = result.body.error.code;
          return fail(messages[code] || result.body.error.message);
        }
        panel.show(result.body);
        if (result.body.prediction_id) {
          modelInput.src = "/predictions/" + result.body.prediction_id + "/input.png";
        }
      })
      .catch(function () {
        if (number === latest) fail(messages.network);
      });
  }

  input.addEventListener("change", function () {
    if (input.files.length) read(input.files[0]);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.files.length) read(input.files[0]);
    else fail(messages.invalid_request);
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
})();
