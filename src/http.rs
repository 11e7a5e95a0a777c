//! A plain HTTP/1.1 GET, enough to check that an app serves: the smoke test, the local URL and
//! the load balancer's URL (through HTTP_PROXY when one is set, as curl would). No TLS: aws-app
//! only checks http:// endpoints it made.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What a GET returned.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub body: String,
}

/// Pages larger than this are cut off as an error: a health page is small.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// GET `path` from `host:port`, the whole exchange bounded by `timeout`.
pub async fn get(host: &str, port: u16, path: &str, timeout: Duration) -> Result<Page, String> {
    let authority = format!("{host}:{port}");
    tokio::time::timeout(timeout, exchange((host, port), path, &authority))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())))
}

/// GET an `http://host[:port]/path` URL, through `HTTP_PROXY` unless `NO_PROXY` exempts the host.
pub async fn get_url(url: &str, timeout: Duration) -> Result<Page, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("bad port in {url}"))?),
        None => (authority, 80),
    };
    let exchange = async {
        match proxy_for(host) {
            Some((proxy_host, proxy_port)) => {
                let target = format!("http://{authority}{path}");
                exchange((proxy_host.as_str(), proxy_port), &target, authority).await
            }
            None => exchange((host, port), path, authority).await,
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())))
}

/// The HTTP proxy for `host` from the environment, as curl reads it.
fn proxy_for(host: &str) -> Option<(String, u16)> {
    let proxy = ["http_proxy", "HTTP_PROXY"].iter().find_map(|k| std::env::var(k).ok())?;
    let no_proxy = ["no_proxy", "NO_PROXY"].iter().find_map(|k| std::env::var(k).ok());
    let exempt = no_proxy.is_some_and(|list| {
        list.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|e| {
            e == "*"
                || host == e.trim_start_matches('.')
                || host.ends_with(&format!(".{}", e.trim_start_matches('.')))
        })
    });
    if exempt {
        return None;
    }
    let rest = proxy.trim().trim_start_matches("http://").trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((rest.to_string(), 80)),
    }
}

/// One request on a new connection to `connect`; `target` is the request target (a path, or an
/// absolute URL for a proxy), `authority` the Host header.
async fn exchange(connect: (&str, u16), target: &str, authority: &str) -> Result<Page, String> {
    let stream = TcpStream::connect(connect).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(target)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, concat!("aws-app/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading the body: {e}"))?
        .to_bytes();
    driver.abort();
    Ok(Page { status, body: String::from_utf8_lossy(&body).into_owned() })
}
