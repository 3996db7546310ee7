// auditgate replay report: filters by outcome and text. No network, no external code.
(function () {
  var hidden = {};
  var query = "";
  var steps = Array.prototype.slice.call(document.querySelectorAll(".step"));
  function apply() {
    var shown = 0;
    steps.forEach(function (s) {
      var text = s.getAttribute("data-text") || "";
      var off = hidden[s.getAttribute("data-status")] || (query && text.indexOf(query) < 0);
      s.classList.toggle("hidden", !!off);
      if (!off) shown++;
    });
    var c = document.getElementById("shown");
    if (c) c.textContent = shown + " of " + steps.length + " steps shown";
  }
  document.querySelectorAll(".chip[data-status]").forEach(function (chip) {
    chip.addEventListener("click", function () {
      var st = chip.getAttribute("data-status");
      hidden[st] = !hidden[st];
      chip.classList.toggle("off", hidden[st]);
      apply();
    });
  });
  var all = document.getElementById("all");
  if (all) all.addEventListener("click", function () {
    hidden = {};
    document.querySelectorAll(".chip.off").forEach(function (c) { c.classList.remove("off"); });
    apply();
  });
  var box = document.getElementById("q");
  if (box) box.addEventListener("input", function () { query = box.value.toLowerCase(); apply(); });
  apply();
})();
