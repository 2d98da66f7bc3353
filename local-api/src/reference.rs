//! The API reference at `/docs`: Swagger UI over `/openapi.json`, to read every operation, its
//! schemas and errors, and to try it against this process. Every asset is compiled in (Swagger UI
//! is vendored at the version in `local-api/reference/swagger-ui/VERSION` by
//! `scripts/vendor-swagger-ui`), so the page works offline and from any working directory. It is
//! local-api's alone: the Lambda binaries, whose size is their cold start, carry none of it.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderValue, Response};
use http_body_util::Full;

/// One file the page loads, at its path under `/docs`.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:expr, $file:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!($file),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
/// The guides are Markdown; as plain text a browser shows them rather than downloading them.
const MARKDOWN: &str = "text/plain; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("/docs", HTML, "../reference/index.html"),
    asset!("/docs/", HTML, "../reference/index.html"),
    asset!(
        "/docs/reference.js",
        JAVASCRIPT,
        "../reference/reference.js"
    ),
    asset!("/docs/reference.css", CSS, "../reference/reference.css"),
    asset!(
        "/docs/swagger-ui/swagger-ui-bundle.js",
        JAVASCRIPT,
        "../reference/swagger-ui/swagger-ui-bundle.js"
    ),
    asset!(
        "/docs/swagger-ui/swagger-ui.css",
        CSS,
        "../reference/swagger-ui/swagger-ui.css"
    ),
    asset!(
        "/docs/swagger-ui/favicon-32x32.png",
        "image/png",
        "../reference/swagger-ui/favicon-32x32.png"
    ),
    asset!("/docs/guide/api.md", MARKDOWN, "../../docs/api.md"),
    asset!("/docs/guide/client.md", MARKDOWN, "../../docs/client.md"),
    asset!(
        "/docs/guide/configuration.md",
        MARKDOWN,
        "../../docs/configuration.md"
    ),
];

/// The page's file at `path`, or `None` when `path` is not one of them. Served from memory
/// without a copy; `no-cache` so a rebuilt local-api's page is never mixed with an older one's.
pub fn asset(path: &str) -> Option<Response<Full<Bytes>>> {
    let asset = ASSETS.iter().find(|asset| asset.path == path)?;
    let mut response = Response::new(Full::new(Bytes::from_static(asset.body)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Some(response)
}
