// docs.js renders the API reference from the server's own OpenAPI
// description with the vendored Swagger UI (static/docs). Nothing is fetched
// from elsewhere: the validator badge, which would call validator.swagger.io,
// is off, and "Try it out" sends requests to this server only.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("api-reference");
  if (!el || typeof SwaggerUIBundle !== "function") { return; }
  SwaggerUIBundle({
    url: el.dataset.spec,
    domNode: el,
    validatorUrl: null,
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
  });
});
