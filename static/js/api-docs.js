// /api/v1/docs: Swagger UI (vendored) on this app's own OpenAPI document.
// A file, not an inline script, so the page keeps the app's CSP.
document.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    // No badge fetched from validator.swagger.io: nothing leaves this site.
    validatorUrl: null,
    // A token typed into "Authorize" lives in this page's memory only.
    persistAuthorization: false,
  });
});
