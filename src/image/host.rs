//! How the Docker engine is reached, read as the Docker CLI reads it: `DOCKER_HOST` (default
//! the local socket), and for `tcp://` `DOCKER_TLS_VERIFY` with the certificates in
//! `DOCKER_CERT_PATH` (`ca.pem`, `cert.pem`, `key.pem`; default `~/.docker`). The engine is
//! given the ECR password in a header on every push, so plain TCP is refused to any engine
//! that is not on this machine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::{API_DEFAULT_VERSION, BollardRequest, Docker};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::error::{Error, Result};

/// How long bollard waits for an answer's head: the engine answers a build only once it has the
/// whole context, and an upload over a slow line takes its time.
const ANSWER_TIMEOUT_SECS: u64 = 3600;

/// Where the engine is, from the process's variables.
#[derive(Debug, PartialEq, Eq)]
pub enum Host {
    /// The default socket, a `unix://` one, or plain TCP on loopback: bollard's own defaults.
    Local,
    /// `tcp://host:port` with `DOCKER_TLS_VERIFY`: TLS, the engine's certificate checked
    /// against `ca.pem` and the host's name, this machine's `cert.pem`/`key.pem` shown.
    Tls { url: String, server: String, certs: PathBuf },
}

impl Host {
    /// `DOCKER_HOST`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH` and `HOME` as `var` gives them.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Host> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let Some(host) = set("DOCKER_HOST") else { return Ok(Host::Local) };
        let Some(rest) = host.strip_prefix("tcp://") else { return Ok(Host::Local) };
        let address = rest.trim_end_matches('/');
        let server = match address.rsplit_once(':') {
            Some((name, port)) if !name.is_empty() && port.parse::<u16>().is_ok() => name,
            _ => {
                return Err(Error::input(format!(
                    "DOCKER_HOST {host} is not tcp://HOST:PORT; set it as for the docker CLI"
                )));
            }
        };
        let server = server.trim_start_matches('[').trim_end_matches(']').to_string();
        if set("DOCKER_TLS_VERIFY").is_none() {
            if super::is_loopback(&server) {
                return Ok(Host::Local);
            }
            return Err(Error::input(format!(
                "DOCKER_HOST {host} is plain TCP to another machine, and the registry password \
                 would cross the network unencrypted: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH \
                 (ca.pem, cert.pem, key.pem) as for the docker CLI, or reach the engine through \
                 an SSH tunnel to a port on 127.0.0.1"
            )));
        }
        let certs = match set("DOCKER_CERT_PATH") {
            Some(path) => PathBuf::from(path),
            None => match set("HOME") {
                Some(home) => Path::new(&home).join(".docker"),
                None => {
                    return Err(Error::input(
                        "DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor HOME is; set \
                         DOCKER_CERT_PATH to the folder of ca.pem, cert.pem and key.pem",
                    ));
                }
            },
        };
        Ok(Host::Tls { url: format!("https://{address}"), server, certs })
    }

    /// A client for this host (bollard's defaults when local: an error then means no engine).
    pub fn client(&self) -> Result<Docker> {
        match self {
            // bollard's own account (a missing socket): said as an engine not reached.
            Host::Local => Docker::connect_with_defaults().map_err(|e| Error::input(e.to_string())),
            Host::Tls { url, server, certs } => {
                let config = client_config(certs)?;
                let name = ServerName::try_from(server.clone()).map_err(|_| {
                    Error::input(format!("DOCKER_HOST names {server}, not a host name or address"))
                })?;
                over_tls(url, config, Some(name))
            }
        }
    }
}

/// The TLS client of `DOCKER_CERT_PATH`: trusts `ca.pem` only, shows `cert.pem` and `key.pem`.
fn client_config(certs: &Path) -> Result<rustls::ClientConfig> {
    let file = |name: &str| certs.join(name);
    let bad = |name: &str, why: String| {
        Error::input(format!(
            "DOCKER_TLS_VERIFY is set and {} {why}; DOCKER_CERT_PATH must hold the engine's CA \
             (ca.pem) and this machine's client certificate (cert.pem, key.pem)",
            file(name).display()
        ))
    };
    let read_certs = |name: &str| -> Result<Vec<CertificateDer<'static>>> {
        let found: Vec<_> = CertificateDer::pem_file_iter(file(name))
            .map_err(|e| bad(name, format!("cannot be read ({e})")))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(name, format!("is not PEM certificates ({e})")))?;
        if found.is_empty() {
            return Err(bad(name, "holds no certificate".to_string()));
        }
        Ok(found)
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certs("ca.pem")? {
        roots.add(ca).map_err(|e| bad("ca.pem", format!("is not a usable CA ({e})")))?;
    }
    let chain = read_certs("cert.pem")?;
    let key = PrivateKeyDer::from_pem_file(file("key.pem"))
        .map_err(|e| bad("key.pem", format!("is not a PEM private key ({e})")))?;
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::failed(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| bad("key.pem", format!("does not go with cert.pem ({e})")))
}

/// bollard over HTTPS to `url` with `config`; the certificate is checked against `name` (the
/// URL's host when `None`).
pub fn over_tls(
    url: &str,
    config: rustls::ClientConfig,
    name: Option<ServerName<'static>>,
) -> Result<Docker> {
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_only();
    let https = match name {
        Some(name) => https
            .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            .enable_http1()
            .build(),
        None => https.enable_http1().build(),
    };
    let client = Arc::new(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
    );
    let transport = move |request: BollardRequest| {
        let client = Arc::clone(&client);
        async move { client.request(request).await.map_err(bollard::errors::Error::from) }
    };
    Docker::connect_with_custom_transport(
        transport,
        Some(url.to_string()),
        ANSWER_TIMEOUT_SECS,
        API_DEFAULT_VERSION,
    )
    .map_err(|e| Error::failed(format!("cannot set up the Docker client for {url}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(vars: &[(&str, &str)]) -> Result<Host> {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Host::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn plain_tcp_only_on_loopback_and_tls_as_the_docker_cli_reads_it() {
        assert_eq!(host(&[]).unwrap(), Host::Local);
        assert_eq!(host(&[("DOCKER_HOST", "unix:///run/docker.sock")]).unwrap(), Host::Local);
        for local in ["tcp://127.0.0.1:2375", "tcp://localhost:2375", "tcp://[::1]:2375/"] {
            assert_eq!(host(&[("DOCKER_HOST", local)]).unwrap(), Host::Local, "{local}");
        }
        let refused = host(&[("DOCKER_HOST", "tcp://10.0.0.5:2375")]).unwrap_err();
        assert_eq!(refused.exit_code(), 2);
        assert!(refused.message.contains("DOCKER_TLS_VERIFY=1"), "{}", refused.message);
        // DOCKER_TLS_VERIFY="" is unset, as for the docker CLI.
        let empty = [("DOCKER_HOST", "tcp://10.0.0.5:2375"), ("DOCKER_TLS_VERIFY", "")];
        assert!(host(&empty).is_err());
        let tls = [
            ("DOCKER_HOST", "tcp://docker.example.com:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("HOME", "/home/ann"),
        ];
        assert_eq!(
            host(&tls).unwrap(),
            Host::Tls {
                url: "https://docker.example.com:2376".into(),
                server: "docker.example.com".into(),
                certs: "/home/ann/.docker".into(),
            }
        );
        let with_path = [
            ("DOCKER_HOST", "tcp://[fd00::5]:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
        ];
        let Host::Tls { server, certs, .. } = host(&with_path).unwrap() else { panic!() };
        assert_eq!((server.as_str(), certs.to_str().unwrap()), ("fd00::5", "/certs"));
        for bad in ["tcp://", "tcp://host", "tcp://:2375", "tcp://host:port"] {
            assert_eq!(host(&[("DOCKER_HOST", bad)]).unwrap_err().exit_code(), 2, "{bad}");
        }
    }
}
