// Swagger UI over the contract this local-api serves. The contract names 127.0.0.1:3000 as its
// server; the page names its own origin instead, so "try it out" reaches this process whatever
// host and port it listens on.
fetch("/openapi.json")
  .then((response) => {
    if (!response.ok) {
      throw new Error(`/openapi.json answered ${response.status}`);
    }
    return response.json();
  })
  .then((spec) => {
    spec.servers = [{ url: window.location.origin, description: "this local-api" }];
    window.ui = SwaggerUIBundle({
      spec,
      dom_id: "#swagger-ui",
      deepLinking: true,
      displayRequestDuration: true,
      showCommonExtensions: true,
    });
  })
  .catch((error) => {
    document.getElementById("swagger-ui").textContent = `The contract could not be loaded: ${error.message}`;
    console.error(error);
  });
