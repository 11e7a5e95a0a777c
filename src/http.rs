//! A plain HTTP/1.1 GET, enough to check that an app serves: the smoke test, the local URL and
//! (later) the load balancer's URL. No TLS: aws-app only checks http:// endpoints it made.

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
    tokio::time::timeout(timeout, get_inner(host, port, path))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())))
}

async fn get_inner(host: &str, port: u16, path: &str) -> Result<Page, String> {
    let stream = TcpStream::connect((host, port)).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, format!("{host}:{port}"))
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
