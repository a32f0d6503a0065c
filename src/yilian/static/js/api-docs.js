// Yilian API reference: Swagger UI over the signed-in user's OpenAPI document.
// Kept in its own file because the Content-Security-Policy forbids inline scripts.
window.addEventListener("DOMContentLoaded", function () {
  window.SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    withCredentials: true,
    validatorUrl: null, // never call the public validator: hospitals run offline
  });
});
