// The answer panel of the draw and upload pages (templates/_answer.html): the
// digit, how sure, the ten probabilities, and "that's wrong, it was…".
(function () {
  "use strict";

  function percent(value) {
    return Math.round(value * 100) + "%";
  }

  // Reads the JSON error format, {"error": {"code", "message"}}, or anything else.
  function readAnswer(response) {
    return response.json().then(
      function (body) { return { ok: response.ok, status: response.status, body: body }; },
      function () {
        return { ok: false, status: response.status,
                 body: { error: { code: "http_" + response.status, message: "" } } };
      });
  }

  function AnswerPanel(root) {
    this.root = root;
    this.digit = root.querySelector("#digit");
    this.confidence = root.querySelector("#confidence");
    this.placeholder = root.querySelector("#placeholder");
    this.rows = Array.prototype.slice.call(root.querySelectorAll("#probabilities li"));
    this.correction = root.querySelector("#correction");
    this.correctionStatus = root.querySelector("#correction-status");
    this.labelButtons = Array.prototype.slice.call(root.querySelectorAll("[data-label]"));
    this.emptyText = this.placeholder.textContent;
    var panel = this;
    this.labelButtons.forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();  // sent to the API, not as the form
        panel.correct(Number(button.dataset.label));
      });
    });
  }

  AnswerPanel.prototype.show = function (answer) {
    this.root.dataset.state = "answered";
    this.digit.textContent = String(answer.digit);
    this.confidence.textContent = percent(answer.confidence);
    this.placeholder.textContent = "";
    this.rows.forEach(function (row, digit) {
      var probability = answer.probabilities[digit];
      row.querySelector("meter").value = probability;
      row.querySelector(".p-value").textContent = percent(probability);
      row.classList.toggle("best", digit === answer.digit);
    });
    this.setPrediction(answer.prediction_id);
  };

  // No answer: nothing drawn, or nothing that could be read. Never a 0.
  AnswerPanel.prototype.clear = function (placeholder) {
    this.root.dataset.state = "empty";
    this.digit.textContent = "";
    this.confidence.textContent = "";
    this.placeholder.textContent = placeholder === undefined ? this.emptyText : placeholder;
    this.rows.forEach(function (row) {
      row.querySelector("meter").value = 0;
      row.querySelector(".p-value").textContent = "";
      row.classList.remove("best");
    });
    this.setPrediction(null);
  };

  AnswerPanel.prototype.setPrediction = function (predictionId) {
    this.predictionId = predictionId;
    this.correction.hidden = !predictionId;
    this.correctionStatus.textContent = "";
    this.labelButtons.forEach(function (button) {
      button.setAttribute("aria-pressed", "false");
    });
  };

  AnswerPanel.prototype.correct = function (label) {
    var panel = this;
    var predictionId = this.predictionId;
    if (!predictionId) return;
    this.correctionStatus.textContent = "Saving…";
    fetch("/api/predictions/" + predictionId + "/label", {
      method: "PUT",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ label: label }),
    })
      .then(readAnswer)
      .then(function (result) {
        if (panel.predictionId !== predictionId) return;  // a newer answer is shown
        if (!result.ok) {
          panel.correctionStatus.textContent = "Could not save: " + result.body.error.message;
          return;
        }
        panel.labelButtons.forEach(function (button) {
          button.setAttribute("aria-pressed", String(Number(button.dataset.label) === label));
        });
        panel.correctionStatus.textContent = "Thanks! Saved as " + label + ". It will help the next training.";
      })
      .catch(function () {
        panel.correctionStatus.textContent = "Could not save: the service could not be reached.";
      });
  };

  window.DigitReader = {
    AnswerPanel: AnswerPanel,
    readAnswer: readAnswer,
  };
})();
