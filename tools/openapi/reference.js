// The reference page (/api/v1/docs): Swagger UI on the merged document the entry point serves.
// A file, not an inline script, so a Content-Security-Policy without 'unsafe-inline' allows it.
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#reference",
  deepLinking: true,
  // "Try it out" sends requests from the page with the key the reader enters (Authorize).
  persistAuthorization: false,
  displayOperationId: true,
  defaultModelsExpandDepth: 0,
  docExpansion: "list",
  tryItOutEnabled: false,
});
