//! A plain HTTP/1.1 GET, enough to check that an app serves: the smoke test, the local URL and
//! the load balancer's URL (through HTTP_PROXY when one is set, as curl would); `https://` for
//! `--domain` (through HTTPS_PROXY's CONNECT), the certificate checked against the system's roots
//! (or SSL_CERT_FILE's) and the name.

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

/// GET an `http://host[:port]/path` URL, through `HTTP_PROXY` unless `NO_PROXY` exempts the host;
/// `https://` through `HTTPS_PROXY`, with the certificate checked.
pub async fn get_url(url: &str, timeout: Duration) -> Result<Page, String> {
    if let Some(rest) = url.strip_prefix("https://") {
        return tokio::time::timeout(timeout, https_get(rest))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())));
    }
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, host, port, path) = split(rest, 80)?;
    let exchange = async {
        match proxy_for(host, &["http_proxy", "HTTP_PROXY"]) {
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

/// A URL after its scheme as authority, host, port (`default` when none is given) and path.
fn split(rest: &str, default: u16) -> Result<(&str, &str, u16, &str), String> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("bad port in {authority}"))?),
        None => (authority, default),
    };
    Ok((authority, host, port, path))
}

/// `host:port/path` over TLS: through the HTTPS proxy's CONNECT tunnel when one applies.
async fn https_get(rest: &str) -> Result<Page, String> {
    let (authority, host, port, path) = split(rest, 443)?;
    let stream = match proxy_for(host, &["https_proxy", "HTTPS_PROXY"]) {
        Some((proxy_host, proxy_port)) => {
            let mut stream = TcpStream::connect((proxy_host.as_str(), proxy_port))
                .await
                .map_err(|e| format!("the HTTPS proxy {proxy_host}:{proxy_port}: {e}"))?;
            connect_through(&mut stream, host, port).await?;
            stream
        }
        None => TcpStream::connect((host, port)).await.map_err(|e| e.to_string())?,
    };
    stream.set_nodelay(true).ok();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        roots.add(cert).ok();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| format!("'{host}' is not a name a certificate can be for"))?;
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS with {host}: {e}"))?;
    exchange_on(tls, path, authority).await
}

/// Opens a tunnel to `host:port` through an HTTP proxy (`CONNECT`).
async fn connect_through(stream: &mut TcpStream, host: &str, port: u16) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    // The proxy's answer ends with an empty line; read it byte by byte (TLS follows).
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await.map_err(|e| e.to_string())? == 0 || head.len() > 8192 {
            return Err("the HTTPS proxy closed the tunnel".to_string());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        let line = head.lines().next().unwrap_or_default();
        return Err(format!("the HTTPS proxy refused the tunnel to {host}:{port}: {line}"));
    }
    Ok(())
}

/// The proxy for `host` from the environment (`keys`, lowercase first), as curl reads it.
fn proxy_for(host: &str, keys: &[&str]) -> Option<(String, u16)> {
    let proxy = keys.iter().find_map(|k| std::env::var(k).ok())?;
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
    exchange_on(stream, target, authority).await
}

/// One request on `stream` (plain or TLS).
async fn exchange_on<S>(stream: S, target: &str, authority: &str) -> Result<Page, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
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
