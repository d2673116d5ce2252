// keyward dashboard: the copy buttons. Everything else works without script.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) { return; }
  var field = document.getElementById(button.getAttribute("data-copy"));
  var status = button.parentElement.querySelector(".copied");
  if (!field) { return; }
  field.select();
  var done = function () { if (status) { status.textContent = "Copied."; } };
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(field.value).then(done, function () {
      if (status) { status.textContent = "Select the text and copy it."; }
    });
  } else {
    done();
  }
});
