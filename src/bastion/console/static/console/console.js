// The console's few behaviours, kept out of the pages so that the Content-Security-Policy
// allows no inline script. Each works from a data attribute; without JavaScript the pages keep
// their <noscript> fallbacks.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A select that submits its form when changed (the language switch).
  document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // A select whose value is the page's query string (the zone map's area).
  document.querySelectorAll("select[data-navigate]").forEach(function (select) {
    select.addEventListener("change", function () { window.location.search = select.value; });
  });
  // A print button on the printable pages.
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
});
