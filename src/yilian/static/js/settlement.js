// Settlement pages: the print button prints the slip (print CSS hides everything else).
document.addEventListener("click", function (event) {
  var target = event.target;
  if (target instanceof Element && target.closest("[data-print]")) {
    window.print();
  }
});
