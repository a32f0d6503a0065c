// Scheduling pages: the print button prints the appointment slip (print CSS hides the rest).
document.addEventListener("click", function (event) {
  var target = event.target;
  if (target instanceof Element && target.closest("[data-print]")) {
    window.print();
  }
});
