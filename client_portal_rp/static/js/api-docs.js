/* The API's reference page (/api/v1/docs): starts the vendored Swagger UI on the portal's own
   OpenAPI document. No tokens are kept: « Authorize » holds one for this page only. */
(function () {
  "use strict";
  var MESSAGES = {
    missing: "La bibliothèque d'affichage de l'API n'a pas pu être chargée : lisez le document OpenAPI ci-dessus.",
  };
  var root = document.getElementById("swagger-ui");
  if (!root) {
    return;
  }
  if (typeof window.SwaggerUIBundle !== "function") {
    var note = document.createElement("p");
    note.className = "api-docs-intro";
    note.textContent = MESSAGES.missing;
    root.appendChild(note);
    return;
  }
  window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    docExpansion: "list",
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
