// The answer panels of templates/_answer.html. AnswerPanel, on the draw and
// upload pages: the digit, how sure, the ten probabilities, and "that's wrong,
// it was…". NumberPanel, on the draw page in number mode: the number and each
// of its digits with how sure.
//
// Both have show(answer), for an answer of the API, and clear(placeholder), for
// no answer.
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

  // How each source of a neighbour is named on the page (as in _answer.html).
  var SOURCE_NAMES = { bundled: "bundled", augmented: "bundled, varied",
                       imported: "imported", label: "a person\u2019s label" };

  function AnswerPanel(root) {
    this.root = root;
    this.neighbourSection = root.querySelector("#neighbours-section");
    this.neighbourList = root.querySelector("#neighbours");
    this.digit = root.querySelector("#digit");
    this.confidence = root.querySelector("#confidence");
    this.placeholder = root.querySelector("#placeholder");
    this.rows = Array.prototype.slice.call(root.querySelectorAll("#probabilities li"));
    this.correction = root.querySelector("#correction");
    this.correctionStatus = root.querySelector("#correction-status");
    this.labelButtons = Array.prototype.slice.call(root.querySelectorAll("[data-label]"));
    this.confirmButton = root.querySelector("#confirm");
    this.emptyText = this.placeholder.textContent;
    var panel = this;
    // "Right": the digit read, as the label (a confirmation is a label too).
    this.confirmButton.addEventListener("click", function (event) {
      event.preventDefault();
      panel.correct(Number(panel.confirmButton.value));
    });
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
    this.confirmButton.value = String(answer.digit);
    this.showNeighbours(answer.neighbours || []);
    this.setPrediction(answer.prediction_id);
  };

  // The training samples that voted (an answer of /api/predict?explain=1).
  AnswerPanel.prototype.showNeighbours = function (neighbours) {
    this.neighbourSection.hidden = neighbours.length === 0;
    this.neighbourList.replaceChildren.apply(this.neighbourList, neighbours.map(function (n) {
      var item = document.createElement("li");
      item.dataset.source = n.source;
      var picture = document.createElement("img");
      picture.src = n.image;
      picture.width = picture.height = 48;
      picture.alt = "A " + n.digit + ", " + SOURCE_NAMES[n.source];
      var digit = document.createElement("span");
      digit.className = "n-digit";
      digit.textContent = String(n.digit);
      var source = document.createElement("span");
      source.className = "n-source";
      source.textContent = SOURCE_NAMES[n.source];
      item.append(picture, digit, source);
      return item;
    }));
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
    this.showNeighbours([]);
    this.setPrediction(null);
  };

  AnswerPanel.prototype.setPrediction = function (predictionId) {
    this.predictionId = predictionId;
    this.correction.hidden = !predictionId;
    this.correctionStatus.textContent = "";
    this.labelButtons.concat([this.confirmButton]).forEach(function (button) {
      button.setAttribute("aria-pressed", "false");
    });
  };

  // While the answer shown is for an older drawing, its label buttons wait.
  AnswerPanel.prototype.setStale = function (stale) {
    this.labelButtons.concat([this.confirmButton]).forEach(function (button) {
      button.disabled = stale;
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
        var confirmed = label === Number(panel.confirmButton.value);
        panel.labelButtons.forEach(function (button) {
          button.setAttribute("aria-pressed",
                              String(!confirmed && Number(button.dataset.label) === label));
        });
        panel.confirmButton.setAttribute("aria-pressed", String(confirmed));
        var what = confirmed ? "Thanks! Confirmed as " : "Thanks! Saved as ";
        panel.correctionStatus.textContent = what + label + ". " +
          (result.body.label_status === "learned"
            ? "The model learns from it now."
            : "The model learns from it once it is reviewed.");
      })
      .catch(function () {
        panel.correctionStatus.textContent = "Could not save: the service could not be reached.";
      });
  };

  function NumberPanel(root) {
    this.root = root;
    this.number = root.querySelector("#number");
    this.placeholder = root.querySelector("#number-placeholder");
    this.list = root.querySelector("#number-digits");
    this.emptyText = this.placeholder.textContent;
  }

  // An answer of /api/read: {"number": "101", "digits": [{"digit", "confidence"}...]}.
  NumberPanel.prototype.show = function (answer) {
    this.root.dataset.state = "answered";
    this.number.textContent = answer.number;
    this.placeholder.textContent = "";
    this.list.replaceChildren.apply(this.list, answer.digits.map(function (each) {
      var row = document.createElement("li");
      var digit = document.createElement("span");
      digit.className = "p-digit";
      digit.textContent = String(each.digit);
      var meter = document.createElement("meter");
      meter.min = 0;
      meter.max = 1;
      meter.value = each.confidence;
      meter.setAttribute("aria-hidden", "true");
      var value = document.createElement("span");
      value.className = "p-value";
      value.textContent = percent(each.confidence);
      var sure = document.createElement("span");
      sure.className = "visually-hidden";
      sure.textContent = " sure";
      value.appendChild(sure);
      row.append(digit, meter, value);
      return row;
    }));
  };

  // No number: nothing drawn, or nothing that could be read.
  NumberPanel.prototype.clear = function (placeholder) {
    this.root.dataset.state = "empty";
    this.number.textContent = "";
    this.placeholder.textContent = placeholder === undefined ? this.emptyText : placeholder;
    this.list.replaceChildren();
  };

  window.DigitReader = {
    AnswerPanel: AnswerPanel,
    NumberPanel: NumberPanel,
    readAnswer: readAnswer,
  };
})();
