// Loaded on pages with widget state, between require.js and the widget manager (see _config.yml, nb_ipywidgets_js).
// 1. The manager finds its own files (its icon fonts) relative to its AMD module name: resolve module names under
//    this folder, from any page depth, instead of next to the page.
require.config({ baseUrl: (document.documentElement.dataset.content_root || "") + "_static/widgets/" });
// 2. The manager typesets widget labels with MathJax 2's MathJax.Hub.Queue; the book serves MathJax 3, which has
//    no Hub. Give MathJax 3 that one call, once MathJax has loaded (it is deferred, so it has by DOMContentLoaded,
//    and this listener is registered before the manager's).
document.addEventListener("DOMContentLoaded", function () {
  var mathjax = window.MathJax;
  if (mathjax && !mathjax.Hub) {
    mathjax.Hub = {
      Queue: function (job) {
        var element = job && job[2];
        if (mathjax.typesetPromise) {
          mathjax.typesetPromise(element ? [element] : undefined).catch(function (err) { console.error(err); });
        }
      },
    };
  }
});
