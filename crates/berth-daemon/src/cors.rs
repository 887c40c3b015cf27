//! `--api-cors-header`: lets browser pages of the given origin call the API.
//! Unset, responses carry no CORS headers and OPTIONS is routed like any method.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// The same lists dockerd sends.
const ALLOW_HEADERS: &str = "Origin, X-Requested-With, Content-Type, Accept, X-Registry-Auth";
const ALLOW_METHODS: &str = "HEAD, GET, POST, DELETE, PUT, OPTIONS";

/// Adds the CORS headers to every response and answers preflights itself.
#[derive(Clone)]
pub struct Cors<S> {
    inner: S,
    origin: Option<HeaderValue>,
}

impl<S> Cors<S> {
    /// `origin` is the flag's value (`*` or an origin); None turns CORS off.
    pub fn new(inner: S, origin: Option<&str>) -> anyhow::Result<Cors<S>> {
        let origin = origin
            .map(|o| {
                HeaderValue::from_str(o)
                    .map_err(|_| anyhow::anyhow!("invalid --api-cors-header value {o:?}"))
            })
            .transpose()?;
        Ok(Cors { inner, origin })
    }
}

impl<S> tower::Service<Request> for Cors<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let Some(origin) = self.origin.clone() else {
            return Box::pin(self.inner.call(req));
        };
        // A preflight never reaches the router: any path may be asked about.
        let fut = (req.method() != Method::OPTIONS).then(|| self.inner.call(req));
        Box::pin(async move {
            let mut resp = match fut {
                Some(f) => f.await?,
                None => StatusCode::OK.into_response(),
            };
            let h = resp.headers_mut();
            h.insert("Access-Control-Allow-Origin", origin);
            h.insert(
                "Access-Control-Allow-Headers",
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(
                "Access-Control-Allow-Methods",
                HeaderValue::from_static(ALLOW_METHODS),
            );
            Ok(resp)
        })
    }
}
