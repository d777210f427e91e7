//! Forwarding HTTP requests to an upstream over pooled keep-alive connections,
//! streaming both bodies. An unreachable upstream answers 503, a slow one 504,
//! both with the API error body.

use crate::error::ApiError;
use anyhow::{Context, Result};
use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, Uri, Version, header},
    response::{IntoResponse, Response},
};
use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use std::time::Duration;

pub type Client = HyperClient<HttpConnector, Body>;

/// One pooled client per process, built at start-up.
pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    HyperClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(connector)
}

/// A named upstream base URL such as `http://127.0.0.1:8001`.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    base: String,
}

impl Upstream {
    pub fn new(name: impl Into<String>, base_url: &str) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .with_context(|| format!("`{base_url}` is not a valid URL"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http") && uri.authority().is_some(),
            "`{base_url}` must be an http:// URL with a host"
        );
        Ok(Self {
            name: name.into(),
            base,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }
}

// RFC 9110 §7.6.1: connection-specific headers must not be forwarded.
const HOP_BY_HOP: [header::HeaderName; 7] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

/// Sends `req` to `upstream` at `path_and_query` and streams the answer back.
pub async fn forward(
    client: &Client,
    upstream: &Upstream,
    mut req: Request,
    path_and_query: &str,
    timeout: Duration,
) -> Response {
    let uri: Uri = match format!("{}{}", upstream.base, path_and_query).parse() {
        Ok(uri) => uri,
        Err(_) => return ApiError::BadRequest("Invalid request path".into()).into_response(),
    };
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    strip_hop_by_hop(req.headers_mut());
    req.headers_mut().remove(header::HOST);

    match tokio::time::timeout(timeout, client.request(req)).await {
        Ok(Ok(resp)) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(e)) if e.is_connect() => {
            tracing::warn!(upstream = %upstream.name, error = %e, "upstream unreachable");
            ApiError::Unavailable(format!("{} is unavailable", upstream.name)).into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(upstream = %upstream.name, error = %e, "upstream failed");
            ApiError::BadGateway(format!("{} failed to answer", upstream.name)).into_response()
        }
        Err(_) => {
            tracing::warn!(upstream = %upstream.name, "upstream timed out");
            ApiError::GatewayTimeout(format!("{} did not answer in time", upstream.name))
                .into_response()
        }
    }
}
