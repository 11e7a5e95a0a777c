//! Everything aws-app asks of the Docker engine, through bollard: connect (API version
//! negotiated), build the app image from a streamed context, run it once as a smoke test, run it
//! as the long-lived local container, and remove what a prefix left locally. Every build stream
//! is drained to its end and an error item in it fails the build. Containers this module starts
//! carry the prefix label, so `destroy --local` finds them; it never touches anything else.

pub mod context;
pub mod dockerignore;
pub mod host;
pub mod lock;
pub mod verified;

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptions, CreateImageOptions, DownloadFromContainerOptions,
    ListContainersOptions, ListImagesOptions, LogsOptions, RemoveContainerOptions,
    RemoveImageOptions, TagImageOptions,
};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::http::{self, Page};
use crate::rfc3339;
use crate::source::Checkout;
use context::{BUILD_FILES, ChannelWriter, write_context};
use lock::{LOCK_FILE, Lock};

/// The port the app listens on inside its container (gunicorn's default, set in the image).
pub const APP_PORT: u16 = 8000;
/// How long a new container gets to answer `GET /` with 200.
const SERVE_DEADLINE: Duration = Duration::from_secs(90);
/// Label of every container aws-app starts: what it is for (`smoke`, `local`).
const ROLE_LABEL: &str = "dev.aws-app.role";
/// Label of every container aws-app starts: the run that started it (`run_id`).
const RUN_ID_LABEL: &str = "dev.aws-app.run-id";
/// The name suffixes of a local container set aside while its successor starts (it ran, or not).
const ASIDE_RUNNING: &str = "-previous-";
const ASIDE_STOPPED: &str = "-previous-stopped-";
/// A smoke-test container of another machine's run (no lock file here to ask) older than this
/// was left by a run that is gone: one lives at most SERVE_DEADLINE.
const STALE_SMOKE: Duration = Duration::from_secs(10 * 60);
/// What a smoke test's container may use: the app's code is not trusted yet.
const SMOKE_MEMORY: i64 = 1 << 30;
const SMOKE_PIDS: i64 = 512;

/// A connected Docker engine.
pub struct Engine {
    docker: Docker,
    /// An EC2 builder's engine: its containers' ports are not reachable from here, so the smoke
    /// test asks from inside the container.
    remote: bool,
}

/// An image built from a commit.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// `sha256:…` image ID.
    pub id: String,
    /// `<repo>:<full commit SHA>-<build key>`.
    pub reference: String,
    /// Docker's architecture name (`amd64`, `arm64`).
    pub architecture: String,
    /// Layer digests, base first.
    pub layers: Vec<String>,
    /// What besides the commit it was built from.
    pub inputs: Inputs,
}

/// The build inputs besides the commit: what the image's tag key hashes.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `--base-image` as given, and the ID the engine built on.
    pub base_image: String,
    pub base_id: String,
    /// aws-app's build recipe (`lock::recipe`).
    pub recipe: String,
    /// `lock::build_key` of base, architecture, recipe and pins.
    pub key: String,
    /// What the lock stage resolved.
    pub lock: Lock,
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Resolve the dependencies again (and pull the base image again) although nothing changed:
    /// `deploy --rebuild`.
    pub refresh: bool,
}

/// Where the lock stage asks for advisories (a PyPI mirror that serves PyPI's JSON API, or
/// `off`): AWS_APP_ADVISORY_URL, else PyPI.
fn advisory_url() -> String {
    std::env::var("AWS_APP_ADVISORY_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "https://pypi.org/pypi".to_string())
}

/// A client for the engine the environment names (`Engine::configured`).
pub struct Configured {
    docker: std::result::Result<Docker, String>,
    shown: String,
    host: host::Host,
}

impl Configured {
    /// Asks the engine its API version and for a ping: an engine that does not answer is exit 2
    /// naming where it was looked for.
    pub async fn connect(self) -> Result<Engine> {
        let Configured { docker, shown, host } = self;
        let hint = match host {
            host::Host::Local => "start Docker (or set DOCKER_HOST)",
            host::Host::Tls { .. } => {
                "check DOCKER_HOST, and that DOCKER_CERT_PATH's ca.pem signed the engine's \
                 certificate for that name"
            }
        };
        let unreachable = |why: String| {
            Error::input(format!("cannot reach the Docker engine at {shown}: {why}; {hint}"))
        };
        let docker = docker.map_err(unreachable)?;
        let docker = tokio::time::timeout(Duration::from_secs(15), docker.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 15 s".to_string()))?
            .map_err(|e| unreachable(e.to_string()))?;
        docker.ping().await.map_err(|e| unreachable(e.to_string()))?;
        Ok(Engine { docker, remote: false })
    }
}

impl Engine {
    /// Connects as the Docker CLI would (DOCKER_HOST or the default socket) and negotiates the
    /// API version, so older and newer engines both work.
    pub async fn connect() -> Result<Engine> {
        Engine::configured()?.connect().await
    }

    /// The engine DOCKER_HOST and its TLS variables name, not yet asked anything: a setting that
    /// cannot work (plain TCP to another machine, unreadable certificates) is an error here,
    /// where an engine that does not answer is one of `Configured::connect`.
    pub fn configured() -> Result<Configured> {
        let shown = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
        let host = host::Host::from_vars(|name| std::env::var(name).ok())?;
        let docker = match host.client() {
            Ok(docker) => Ok(docker),
            // No socket there: an engine not reached, which `connect` says (and deploy builds
            // on EC2 instead), not a setting to mend.
            Err(e) if host == host::Host::Local => Err(e.message),
            Err(e) => return Err(e),
        };
        Ok(Configured { docker, shown, host })
    }

    /// An engine elsewhere (the EC2 builder's), already connected.
    pub fn remote(docker: Docker) -> Engine {
        Engine { docker, remote: true }
    }

    /// Builds `docker/Dockerfile` against the checkout and tags it `<repo>:<commit>-<key>`, the
    /// key hashing the base image's ID, the recipe and the pins the lock stage resolved.
    pub async fn build(
        &self,
        checkout: &Checkout,
        base_image: &str,
        repo: &str,
        prefix_label: (&str, &str),
        options: &BuildOptions,
    ) -> Result<BuiltImage> {
        if options.refresh {
            self.pull_base(base_image).await;
        }
        // The OCI labels come from these in the Dockerfile; `created` is the commit time, not
        // the clock, so rebuilding a commit keeps its labels. The lock stage sees only
        // REQUIREMENTS_TIME, ADVISORY_URL and LOCK_REFRESH besides requirements.txt: a commit
        // that changes only code finds its lock in the cache.
        let mut build_args = HashMap::from([
            ("BASE_IMAGE".to_string(), base_image.to_string()),
            ("COMMIT_SHA".to_string(), checkout.commit.clone()),
            ("COMMIT_TIME".to_string(), rfc3339(checkout.commit_time)),
            ("SOURCE_URL".to_string(), checkout.url.clone()),
            ("RECIPE".to_string(), lock::recipe().to_string()),
            ("ADVISORY_URL".to_string(), advisory_url()),
            (
                "REQUIREMENTS_TIME".to_string(),
                checkout.requirements_time.map(rfc3339).unwrap_or_default(),
            ),
        ]);
        if options.refresh {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            build_args.insert("LOCK_REFRESH".to_string(), now.to_string());
        }
        let options = BuildImageOptions {
            dockerfile: format!("{}/Dockerfile", context::TOOL_DIR),
            rm: true,
            forcerm: true,
            buildargs: Some(build_args),
            ..Default::default()
        };

        let (tx, rx) = mpsc::channel::<io::Result<bytes::Bytes>>(8);
        let root = checkout.path().to_path_buf();
        let mtime = u64::try_from(checkout.commit_time).unwrap_or(0);
        let writer = tokio::task::spawn_blocking(move || {
            let result = write_context(&root, BUILD_FILES, mtime, ChannelWriter::new(tx.clone()));
            if let Err(e) = &result {
                // Fail the upload too, so Docker does not build a truncated context.
                let _ = tx.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
            }
            result
        });
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });

        let mut stream =
            self.docker.build_image(options, None, Some(bollard::body_try_stream(body)));
        let mut step = String::new();
        let mut step_output: Vec<String> = Vec::new();
        // Everything the build said: the error's detail when it was not printed as it came.
        let mut all_output = String::new();
        let mut image_id = None;
        let mut failure = None;
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            };
            if let Some(text) = &info.stream {
                crate::progress::output(text);
                all_output.push_str(text);
                for line in text.lines() {
                    if let Some(id) = line.strip_prefix("Successfully built ")
                        && image_id.is_none()
                    {
                        image_id = Some(id.trim().to_string());
                    }
                    if line.starts_with("Step ") {
                        step = line.to_string();
                        step_output.clear();
                    } else if !line.trim().is_empty() {
                        step_output.push(line.to_string());
                    }
                }
            }
            if let Some(detail) = &info.error_detail {
                failure = Some(detail.message.clone().unwrap_or_else(|| "unknown error".into()));
                break;
            }
            if let Some(id) = &info.aux {
                image_id = id.id.clone();
            }
        }
        let written = writer.await.map_err(|e| Error::failed(format!("context writer: {e}")))?;
        let context_failed = |e: io::Error| {
            Error::failed(format!("cannot send the build context from the checkout: {e}"))
        };
        // The context's own error (an unreadable file, a bad .dockerignore) explains a failed
        // upload better than the transport error it caused; a broken pipe is Docker's doing.
        match written {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(context_failed(e)),
            Err(e) if failure.is_none() => return Err(context_failed(e)),
            _ => {}
        }
        if let Some(why) = failure {
            let detail = match crate::progress::prints_build_output() {
                true => {
                    let tail = step_output.iter().rev().take(30).rev().cloned();
                    tail.collect::<Vec<_>>().join("\n")
                }
                false => all_output,
            };
            return Err(build_failure(&step, &why).with_detail(detail));
        }

        let Some(image_id) = image_id else {
            return Err(Error::failed(
                "the build finished but the engine did not say which image it made",
            ));
        };
        let inspected = self.docker.inspect_image(&image_id).await.map_err(|e| {
            Error::failed(format!("the build finished but {image_id} is missing: {e}"))
        })?;
        let base_id = self.base_identity(base_image).await.ok_or_else(|| {
            Error::failed(format!("the build used {base_image}, but the engine cannot show it"))
        })?;
        let lock = Lock::parse(&self.read_file(&image_id, LOCK_FILE, prefix_label).await?)?;
        let recipe = lock::recipe().to_string();
        let architecture = inspected.architecture.clone().unwrap_or_else(|| "amd64".to_string());
        let key = lock::build_key(&base_id, &architecture, &recipe, &lock.pins);
        let tag = lock::tag(&checkout.commit, &key);
        let options = TagImageOptions { repo: Some(repo.to_string()), tag: Some(tag.clone()) };
        self.docker
            .tag_image(&image_id, Some(options))
            .await
            .map_err(|e| Error::failed(format!("cannot tag the image as {repo}:{tag}: {e}")))?;
        Ok(BuiltImage {
            id: image_id,
            reference: format!("{repo}:{tag}"),
            architecture,
            layers: inspected.root_fs.and_then(|r| r.layers).unwrap_or_default(),
            inputs: Inputs { base_image: base_image.to_string(), base_id, recipe, key, lock },
        })
    }

    /// Pulls the base image again (`--rebuild`); a base that exists only on this engine (or a
    /// registry out of reach) keeps the local copy, and the run says so.
    async fn pull_base(&self, base_image: &str) {
        let options =
            CreateImageOptions { from_image: Some(base_image.to_string()), ..Default::default() };
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let why = match item {
                Ok(info) => info.error_detail.and_then(|d| d.message),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = why {
                crate::note(format!(
                    "could not pull {base_image} again ({}); building on the local copy",
                    why.trim()
                ));
                return;
            }
        }
        crate::note(format!("pulled {base_image} again"));
    }

    /// What the base image `reference` is on this engine, if it has it: a digest of its
    /// content (platform, layers, and the configuration a build inherits), the same on every
    /// engine. The engine's image ID is not: a graph-driver engine gives the config's digest, one
    /// with the containerd store the manifest's or the index's, so two teammates on two engines
    /// would otherwise rebuild each other's deploys of the same commit.
    pub async fn base_identity(&self, reference: &str) -> Option<String> {
        let image = self.docker.inspect_image(reference).await.ok()?;
        Some(content_identity(&image))
    }

    /// One file of an image, read through a container that is created, never started, and
    /// removed again (labelled like a smoke test's, so an interrupted run removes it too).
    async fn read_file(
        &self,
        image: &str,
        path: &str,
        (label, prefix): (&str, &str),
    ) -> Result<String> {
        let failed = |e: String| Error::failed(format!("cannot read {path} from the image: {e}"));
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            labels: Some(HashMap::from([
                (label.to_string(), prefix.to_string()),
                (ROLE_LABEL.to_string(), "smoke".to_string()),
            ])),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let options = DownloadFromContainerOptions { path: path.to_string() };
        let mut stream = self.docker.download_from_container(&created.id, Some(options));
        let mut archive = Vec::new();
        let mut read = Ok(());
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => archive.extend_from_slice(&bytes),
                Err(e) => {
                    read = Err(failed(e.to_string()));
                    break;
                }
            }
        }
        self.remove_container(&created.id).await;
        read?;
        let mut tar = tar::Archive::new(archive.as_slice());
        let entries = tar.entries().map_err(|e| failed(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| failed(e.to_string()))?;
            if entry.header().entry_type().is_file() {
                let mut text = String::new();
                io::Read::read_to_string(&mut entry, &mut text)
                    .map_err(|e| failed(e.to_string()))?;
                return Ok(text);
            }
        }
        Err(failed("the engine sent no file".to_string()))
    }

    /// Starts the image once on a free local port, with the app's variables `env`, and waits
    /// for it to serve `GET /` (with `expect` in the body when given). Always removes the
    /// container; returns the page.
    pub async fn smoke_test(
        &self,
        image: &BuiltImage,
        prefix_label: (&str, &str),
        expect: Option<&str>,
        env: &[(String, String)],
    ) -> Result<Page> {
        self.remove_stale_smoke(prefix_label).await;
        let mark = RunMark::new();
        let id = self.start(image, None, None, prefix_label, "smoke", env).await?;
        let served = self.wait_serving(&id, expect).await;
        self.remove_container(&id).await;
        drop(mark);
        served.map(|(page, _)| page)
    }

    /// Replaces the prefix's local container with one of `image` (with the app's variables
    /// `env`) on `port` and waits for it to serve. The earlier container is only removed once
    /// the new image passed its smoke test.
    pub async fn run_local(
        &self,
        image: &BuiltImage,
        name: &str,
        port: u16,
        prefix_label: (&str, &str),
        expect: Option<&str>,
        env: &[(String, String)],
    ) -> Result<String> {
        let old = self.containers(prefix_label, Some("local")).await?;
        // Fail before the earlier container goes if something else holds the port.
        let ours =
            old.iter().flat_map(|c| c.ports.iter().flatten()).any(|p| p.public_port == Some(port));
        let here = endpoint();
        if !ours
            && here.bind_ip == "127.0.0.1"
            && std::net::TcpListener::bind((here.bind_ip, port)).is_err()
        {
            return Err(Error::input(format!(
                "port {port} is already in use on this machine; choose another with --port"
            )));
        }
        // The earlier container steps aside (stopped and renamed, not removed: the port and
        // the name go to the new one) and comes back if the new one does not serve there. Its
        // new name says whether it ran (an interrupted run's leftovers are found by it too).
        let mut aside = 0;
        for c in &old {
            let Some(id) = c.id.as_deref() else { continue };
            let running = c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING);
            let stop =
                bollard::query_parameters::StopContainerOptions { t: Some(10), signal: None };
            let _ = self.docker.stop_container(id, Some(stop)).await;
            let how = if running { ASIDE_RUNNING } else { ASIDE_STOPPED };
            let rename = bollard::query_parameters::RenameContainerOptions {
                name: format!("{name}{how}{}", short(id)),
            };
            if self.docker.rename_container(id, rename).await.is_err() {
                self.remove_container(id).await;
                continue;
            }
            aside += 1;
        }
        let started =
            match self.start(image, Some(name), Some(port), prefix_label, "local", env).await {
                Ok(id) => self.wait_serving(&id, expect).await.map(|(_, port)| port),
                Err(e) => Err(e),
            };
        match started {
            Ok(port) => {
                for c in self.containers(prefix_label, Some("local")).await.unwrap_or_default() {
                    if let Some(id) = c.id.as_deref()
                        && aside_of(&c, name).is_some()
                    {
                        self.remove_container(id).await;
                    }
                }
                Ok(format!("http://{}:{port}/", here.url_host))
            }
            Err(e) => {
                let restored = match (aside, self.give_back_local(name, prefix_label).await) {
                    (0, _) => String::new(),
                    (_, 0) => " (the earlier container could not be brought back)".to_string(),
                    _ => " (the earlier container serves again)".to_string(),
                };
                Err(Error { message: format!("{}{restored}", e.message), ..e })
            }
        }
    }

    /// Undoes an unfinished `run_local` (it failed, or the run was interrupted): the new
    /// container named `name` goes, the earlier one set aside gets its name back and runs again
    /// if it ran. How many came back.
    pub async fn give_back_local(&self, name: &str, prefix_label: (&str, &str)) -> usize {
        let found = self.containers(prefix_label, Some("local")).await.unwrap_or_default();
        let named = |c: &bollard::models::ContainerSummary, n: &str| {
            c.names.iter().flatten().any(|x| x.trim_start_matches('/') == n)
        };
        let mut back = 0;
        // The container under the name is this run's new one, or the earlier one caught
        // between its stop and its rename: that one is started again.
        for c in found.iter().filter(|c| named(c, name)) {
            let Some(id) = c.id.as_deref() else { continue };
            let ours = c.labels.as_ref().and_then(|l| l.get(RUN_ID_LABEL));
            if ours.map(String::as_str) == Some(run_id()) {
                self.remove_container(id).await;
            } else if self.restart(id).await {
                back += 1;
            }
        }
        for c in &found {
            let (Some(id), Some(running)) = (c.id.as_deref(), aside_of(c, name)) else {
                continue;
            };
            let rename =
                bollard::query_parameters::RenameContainerOptions { name: name.to_string() };
            if self.docker.rename_container(id, rename).await.is_ok()
                && (!running || self.restart(id).await)
            {
                back += 1;
            } else {
                crate::note(format!("could not bring back the earlier container {}", short(id)));
            }
        }
        back
    }

    /// Starts a container again and waits for it to serve; whether it does. A stop still under
    /// way in the engine (of an interrupted run) is waited for first.
    async fn restart(&self, id: &str) -> bool {
        let stop = bollard::query_parameters::StopContainerOptions { t: Some(10), signal: None };
        let _ = self.docker.stop_container(id, Some(stop)).await;
        self.docker.start_container(id, None).await.is_ok() && self.serving(id, None).await.is_ok()
    }

    /// Creates and starts a container of `image` publishing the app port on `port` (or a free
    /// one), with the variables `env`. On any failure the container is removed again.
    async fn start(
        &self,
        image: &BuiltImage,
        name: Option<&str>,
        port: Option<u16>,
        (label, prefix): (&str, &str),
        role: &str,
        env: &[(String, String)],
    ) -> Result<String> {
        let binding = PortBinding {
            host_ip: Some(endpoint().bind_ip.to_string()),
            host_port: Some(port.map(|p| p.to_string()).unwrap_or_default()),
        };
        let restart = (role == "local").then_some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        });
        let body = ContainerCreateBody {
            image: Some(image.reference.clone()),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            exposed_ports: Some(vec![format!("{APP_PORT}/tcp")]),
            labels: Some(
                [
                    (label.to_string(), prefix.to_string()),
                    (ROLE_LABEL.to_string(), role.to_string()),
                    ("org.opencontainers.image.ref.name".to_string(), image.reference.clone()),
                ]
                .into_iter()
                .chain([(RUN_ID_LABEL.to_string(), run_id().to_string())])
                .collect(),
            ),
            // Unproven code of the app's repository: no way to gain privileges, no Linux
            // capabilities (gunicorn binds 8000 as uid 10001 and needs none); a smoke test is
            // bounded in memory and processes too.
            host_config: Some(HostConfig {
                port_bindings: (!self.remote)
                    .then(|| HashMap::from([(format!("{APP_PORT}/tcp"), Some(vec![binding]))])),
                restart_policy: restart,
                security_opt: Some(vec!["no-new-privileges:true".to_string()]),
                cap_drop: Some(vec!["ALL".to_string()]),
                memory: (role == "smoke").then_some(SMOKE_MEMORY),
                pids_limit: (role == "smoke").then_some(SMOKE_PIDS),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options =
            CreateContainerOptions { name: name.map(str::to_string), ..Default::default() };
        let created =
            self.docker.create_container(Some(options), body).await.map_err(|e| match name {
                Some(name) if is_conflict(&e) => Error::input(format!(
                    "a container named {name} is in the way (another aws-app run for this prefix, \
                     or not aws-app's): remove it with `docker rm -f {name}` and run again"
                )),
                _ => {
                    Error::failed(format!("cannot create a container of {}: {e}", image.reference))
                }
            })?;
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            self.remove_container(&created.id).await;
            let text = e.to_string();
            if let (Some(port), true) = (
                port,
                text.contains("port is already allocated")
                    || text.contains("address already in use"),
            ) {
                return Err(Error::input(format!(
                    "port {port} is already in use on this machine; choose another with --port"
                )));
            }
            return Err(Error::failed(format!("cannot start {}: {text}", image.reference)));
        }
        Ok(created.id)
    }

    /// Polls `GET /` on the container's published port until it answers 200 (and contains
    /// `expect`), the container exits, or the deadline passes. On failure the container is
    /// removed and the error carries its last log lines.
    async fn wait_serving(&self, id: &str, expect: Option<&str>) -> Result<(Page, u16)> {
        match self.serving(id, expect).await {
            Ok(served) => Ok(served),
            Err((why, page)) => {
                let error = self.fail_container(id, why).await;
                Err(match page {
                    Some(page) => error.with_detail(format!("the page was:\n{page}")),
                    None => error,
                })
            }
        }
    }

    /// `wait_serving` without the removal: why the container did not serve (and the page it
    /// answered, if any) is returned instead.
    async fn serving(
        &self,
        id: &str,
        expect: Option<&str>,
    ) -> std::result::Result<(Page, u16), (String, Option<String>)> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(200);
        let mut last = String::from("no answer yet");
        let mut port = None;
        let mut restarts_before = None;
        loop {
            let inspected = self
                .docker
                .inspect_container(id, None)
                .await
                .map_err(|e| (format!("cannot inspect container {}: {e}", short(id)), None))?;
            // A local container restarts on exit (its restart policy): once is enough to know.
            let restarts = inspected.restart_count.unwrap_or(0);
            let restarted = restarts > *restarts_before.get_or_insert(restarts);
            let state = inspected.state.unwrap_or_default();
            if state.running != Some(true) || state.restarting == Some(true) || restarted {
                let code = state.exit_code.unwrap_or_default();
                return Err((format!("the app exited (code {code}) before serving GET /"), None));
            }
            if port.is_none() {
                port = match self.remote {
                    true => Some(APP_PORT),
                    false => published_port(&inspected.network_settings),
                };
            }
            if let Some(port) = port {
                let answer = match self.remote {
                    true => self.get_inside(id).await,
                    false => http::get(&endpoint().reach, port, "/", Duration::from_secs(5)).await,
                };
                match answer {
                    Ok(page) if page.status == 200 => match expect {
                        // A fresh container's first page is its page: no point in waiting.
                        Some(text) if !page.body.contains(text) => {
                            let why = format!("GET / answered 200 without '{text}' in the page");
                            let shown: String = page.body.chars().take(2000).collect();
                            return Err((why, Some(shown)));
                        }
                        _ => return Ok((page, port)),
                    },
                    Ok(page) => last = format!("GET / answered {}", page.status),
                    Err(e) => last = e,
                }
            }
            if started.elapsed() > SERVE_DEADLINE {
                let why = format!(
                    "the app did not serve GET / within {} s ({last})",
                    SERVE_DEADLINE.as_secs()
                );
                return Err((why, None));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// `GET /` from inside the container (python3 is in every app image): for an engine whose
    /// published ports this machine cannot reach.
    async fn get_inside(&self, id: &str) -> std::result::Result<Page, String> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        const PROBE: &str = "import sys, urllib.request, urllib.error\n\
try:\n    r = urllib.request.build_opener(urllib.request.ProxyHandler({})).open('http://127.0.0.1:8000/', timeout=5)\n    status, body = r.status, r.read()\n\
except urllib.error.HTTPError as e:\n    status, body = e.code, e.read()\n\
sys.stdout.write('%d\\n' % status)\nsys.stdout.flush()\nsys.stdout.buffer.write(body)\n";
        let options = CreateExecOptions {
            cmd: Some(vec!["python3", "-c", PROBE]),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = self.docker.create_exec(id, options).await.map_err(|e| e.to_string())?;
        let started = self.docker.start_exec(&exec.id, None).await.map_err(|e| e.to_string())?;
        let StartExecResults::Attached { mut output, .. } = started else {
            return Err("the engine did not attach to the probe".to_string());
        };
        let (mut out, mut err) = (Vec::new(), String::new());
        while let Some(chunk) = output.next().await {
            match chunk.map_err(|e| e.to_string())? {
                bollard::container::LogOutput::StdOut { message } => {
                    out.extend_from_slice(&message)
                }
                other => err.push_str(&other.to_string()),
            }
        }
        let text = String::from_utf8_lossy(&out);
        let (status, body) = text.split_once('\n').unwrap_or((&text, ""));
        match status.trim().parse::<u16>() {
            Ok(status) => Ok(Page { status, body: body.to_string() }),
            Err(_) => Err(err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no answer")
                .trim()
                .to_string()),
        }
    }

    /// The error for a container that did not serve: its last log lines, and it is removed.
    async fn fail_container(&self, id: &str, why: String) -> Error {
        let logs = self.log_tail(id, 1000).await;
        self.remove_container(id).await;
        Error::commit_failed(why).with_detail(app_lines(&logs, 40))
    }

    async fn log_tail(&self, id: &str, lines: usize) -> String {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker.logs(id, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&chunk.to_string());
        }
        text
    }

    /// Containers of the prefix (any state), optionally of one role.
    async fn containers(
        &self,
        (label, prefix): (&str, &str),
        role: Option<&str>,
    ) -> Result<Vec<bollard::models::ContainerSummary>> {
        let mut wanted = vec![format!("{label}={prefix}")];
        if let Some(role) = role {
            wanted.push(format!("{ROLE_LABEL}={role}"));
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_string(), wanted)])),
            ..Default::default()
        };
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| Error::failed(format!("cannot list containers: {e}")))?;
        Ok(found)
    }

    /// Smoke containers of the prefix that a killed run left. A run on this machine holds its
    /// mark (`RunMark`, named by the container's RUN_ID_LABEL) locked while the container
    /// lives, and the kernel lets go however the run ends: a free lock means the run is gone. A
    /// container of another machine's run is gone past STALE_SMOKE. A live run beside this one,
    /// of the same prefix, keeps its own.
    async fn remove_stale_smoke(&self, prefix_label: (&str, &str)) {
        let now = crate::unix_now();
        let found = self.containers(prefix_label, Some("smoke")).await.unwrap_or_default();
        for c in found {
            let run = c.labels.as_ref().and_then(|l| l.get(RUN_ID_LABEL));
            let gone = match run.and_then(|run| RunMark::gone(run)) {
                Some(gone) => gone,
                None => now - c.created.unwrap_or(now) > STALE_SMOKE.as_secs() as i64,
            };
            if gone && let Some(id) = c.id.as_deref() {
                crate::note(format!(
                    "removing smoke-test container {} a stopped run left",
                    short(id)
                ));
                self.remove_container(id).await;
                if let Some(run) = run {
                    let _ = std::fs::remove_file(RunMark::path(run));
                }
            }
        }
        RunMark::sweep();
    }

    /// Removes the prefix's containers of one role (e.g. a smoke test cut short); how many.
    pub async fn remove_role(&self, prefix_label: (&str, &str), role: &str) -> usize {
        let found = self.containers(prefix_label, Some(role)).await.unwrap_or_default();
        for id in found.iter().filter_map(|c| c.id.as_deref()) {
            self.remove_container(id).await;
        }
        found.len()
    }

    async fn remove_container(&self, id: &str) {
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        if let Err(e) = self.docker.remove_container(id, Some(options)).await
            && !is_not_found(&e)
        {
            crate::note(format!("could not remove container {}: {e}", short(id)));
        }
    }

    /// Removes the prefix's containers and the images of its repository. Returns how many of
    /// each were removed.
    pub async fn destroy_local(
        &self,
        prefix_label: (&str, &str),
        repo: &str,
    ) -> Result<(usize, usize)> {
        let containers = self.containers(prefix_label, None).await?;
        for id in containers.iter().filter_map(|c| c.id.as_deref()) {
            self.remove_container(id).await;
        }
        // Its tags, here and as pushed (`<registry>/<repo>:…`), removed one by one and never by
        // image ID with force: an ID can be shared by another prefix's image of the same build,
        // and a forced removal takes the images a build running beside this one stands on (with
        // the containerd store, that build fails). The image goes when no tag holds it.
        let patterns = vec![repo.to_string(), format!("*/{repo}")];
        let options = ListImagesOptions {
            filters: Some(HashMap::from([("reference".to_string(), patterns)])),
            ..Default::default()
        };
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(|e| Error::failed(format!("cannot list images: {e}")))?;
        // Tags only: the `registry/repo@sha256:…` references the containerd store keeps for an
        // image pushed or pulled by digest stay with the build cache (removing them, too, took
        // images from under builds and containers beside this run on that store).
        let ours = |tag: &str| {
            tag.rsplit_once(':').is_some_and(|(name, _)| {
                name == repo || name.rsplit_once('/').is_some_and(|(_, last)| last == repo)
            })
        };
        let mut removed = 0;
        for image in &images {
            let mut untagged = false;
            for tag in image.repo_tags.iter().filter(|t| ours(t)) {
                // noprune: the untagged images under it are the build cache (the steps every
                // build of every prefix shares); removing them would pull the cache from under
                // a build running beside this one.
                let options = RemoveImageOptions { noprune: true, ..Default::default() };
                match self.docker.remove_image(tag, Some(options), None).await {
                    Ok(_) => untagged = true,
                    Err(e) if is_not_found(&e) => {}
                    // A container that is not this prefix's runs it: it stays, and so does the
                    // reference that container stands on.
                    Err(e) if is_conflict(&e) => {
                        crate::note(format!(
                            "kept {tag}: a container that is not aws-app's uses it"
                        ));
                    }
                    Err(e) => {
                        return Err(Error::failed(format!("cannot remove image {tag}: {e}")));
                    }
                }
            }
            removed += usize::from(untagged);
        }
        Ok((containers.len(), removed))
    }

    /// The image `<registry>/<repo>:<tag>` if the registry has it (asked through the engine,
    /// with the registry's credentials). Only "not found" means absent: any other answer (the
    /// registry unreachable, credentials refused) is an error, not a reason to rebuild a tag an
    /// immutable repository would then refuse.
    pub async fn find_in_registry(
        &self,
        registry: &crate::aws::ecr::Registry,
        repo: &str,
        tag: &str,
    ) -> Result<Option<Pushed>> {
        let target = format!("{}/{repo}", registry.host);
        let found = match self
            .docker
            .inspect_registry_image(&format!("{target}:{tag}"), registry.credentials.clone())
            .await
        {
            Ok(found) => found,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => {
                return Err(Error::failed(format!("cannot ask {target} for tag {tag}: {e}")));
            }
        };
        let Some(digest) = found.descriptor.digest else {
            return Ok(None);
        };
        let architecture = linux_architecture(&found.platforms);
        Ok(Some(Pushed { reference: format!("{target}@{digest}"), pushed: false, architecture }))
    }

    /// Pushes the image as `<registry>/<repo>:<commit>-<key>` and returns
    /// `<registry>/<repo>@<digest>`, the reference a task definition must use. When the registry
    /// already has the tag (tags are immutable in ECR, and the key names the inputs), nothing is
    /// pushed. `absent`: the registry was already asked and does not have it.
    pub async fn push(
        &self,
        image: &BuiltImage,
        registry: &crate::aws::ecr::Registry,
        repo: &str,
        absent: bool,
    ) -> Result<Pushed> {
        let target = format!("{}/{repo}", registry.host);
        let tag = image.reference.rsplit_once(':').map_or("latest", |(_, t)| t).to_string();
        let tagged = format!("{target}:{tag}");
        let creds = registry.credentials.clone();
        if !absent && let Some(found) = self.find_in_registry(registry, repo, &tag).await? {
            // The tag's key names the CPU it was built for, so it is this build's; when the
            // registry's answer says a CPU (an index does; a single OCI manifest may not), it
            // must agree, or the tag was pushed by something other than aws-app.
            if let Some(theirs) = found.architecture.as_deref()
                && theirs != image.architecture
            {
                return Err(Error::failed(format!(
                    "{tagged} in the registry is built for {theirs}, this build for {}: the tag \
                     was not pushed by aws-app; delete it from the repository and deploy again",
                    image.architecture
                )));
            }
            return Ok(Pushed { architecture: Some(image.architecture.clone()), ..found });
        }
        let options = TagImageOptions { repo: Some(target.clone()), tag: Some(tag.clone()) };
        self.docker
            .tag_image(&image.id, Some(options))
            .await
            .map_err(|e| Error::failed(format!("cannot tag the image as {tagged}: {e}")))?;
        let options = bollard::query_parameters::PushImageOptions {
            tag: Some(tag.clone()),
            ..Default::default()
        };
        let mut stream = self.docker.push_image(&target, Some(options), creds.clone());
        let mut last_status = String::new();
        // Bytes pushed of each layer, keyed by the layer's size (bollard's push answer has no
        // layer ID): the step's detail on a terminal.
        let mut layers: HashMap<u64, u64> = HashMap::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| Error::failed(format!("pushing {tagged} failed: {e}")))?;
            if let Some(progress) = &info.progress_detail
                && let Some(total) = progress.total.and_then(|t| u64::try_from(t).ok())
                && total > 0
            {
                let current = progress.current.and_then(|c| u64::try_from(c).ok()).unwrap_or(0);
                layers.insert(total, current.min(total));
                let done: u64 = layers.values().sum();
                let all: u64 = layers.keys().sum();
                crate::progress::detail(&format!(
                    "{} of {} pushed",
                    crate::progress::bytes(done),
                    crate::progress::bytes(all)
                ));
            }
            if let Some(detail) = info.error_detail {
                let why = detail.message.unwrap_or_else(|| "unknown error".to_string());
                return Err(Error::failed(format!("pushing {tagged} failed: {}", why.trim())));
            }
            if let Some(status) = info.status
                && status != last_status
                && !status.starts_with("Pushing")
            {
                crate::progress::output(&format!("  {status}\n"));
                last_status = status;
            }
        }
        let digest = self
            .docker
            .inspect_registry_image(&tagged, creds)
            .await
            .map_err(|e| {
                Error::failed(format!("pushed {tagged}, but cannot read its digest: {e}"))
            })?
            .descriptor
            .digest
            .ok_or_else(|| {
                Error::failed(format!("pushed {tagged}, but the registry gives no digest"))
            })?;
        Ok(Pushed {
            reference: format!("{target}@{digest}"),
            pushed: true,
            architecture: Some(image.architecture.clone()),
        })
    }

    /// The layer digests of an image (for tests and benchmarks: which layers a build reused).
    pub async fn layers(&self, reference: &str) -> Result<Vec<String>> {
        let inspected = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(|e| Error::failed(format!("cannot inspect {reference}: {e}")))?;
        Ok(inspected.root_fs.and_then(|r| r.layers).unwrap_or_default())
    }
}

/// A digest of what a build inherits from an image: platform, layers and the configuration
/// (environment, command, entry point, working directory, user, shell, ports, volumes, stop
/// signal, health check, ONBUILD, labels). Every value is normalized first: engines answer
/// differently for the same image (API 1.52 and later leave empty fields out, older ones send
/// `""` or `[]`), and lists that are sets (ports, volumes) are sorted. One line per field, as
/// JSON of a plain value, so the text does not depend on serde_json's map ordering.
fn content_identity(image: &bollard::models::ImageInspect) -> String {
    use serde_json::Value;
    let config = image.config.clone().unwrap_or_default();
    let text =
        |v: &Option<String>| v.clone().filter(|s| !s.is_empty()).map_or(Value::Null, Value::from);
    let list = |v: &Option<Vec<String>>| {
        v.clone().filter(|l| !l.is_empty()).map_or(Value::Null, Value::from)
    };
    let set = |v: &Option<Vec<String>>| {
        let mut sorted = v.clone().unwrap_or_default();
        sorted.sort();
        if sorted.is_empty() { Value::Null } else { Value::from(sorted) }
    };
    // Maps as text of a BTreeMap: sorted keys whatever serde_json's own map type is.
    let sorted = |map: std::collections::BTreeMap<String, Value>| {
        if map.is_empty() {
            Value::Null
        } else {
            Value::from(serde_json::to_string(&map).unwrap_or_default())
        }
    };
    let labels = sorted(
        config
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect(),
    );
    let healthcheck = sorted(
        config
            .healthcheck
            .as_ref()
            .and_then(|h| serde_json::to_value(h).ok())
            .and_then(|h| h.as_object().cloned())
            .map(|o| o.into_iter().filter(|(_, v)| !v.is_null()).collect())
            .unwrap_or_default(),
    );
    let line = |name: &str, value: Value| format!("{name} {value}\n");
    let content = [
        line("os", text(&image.os)),
        line("architecture", text(&image.architecture)),
        line("variant", text(&image.variant)),
        line("layers", list(&image.root_fs.as_ref().and_then(|r| r.layers.clone()))),
        line("env", list(&config.env)),
        line("cmd", list(&config.cmd)),
        line("entrypoint", list(&config.entrypoint)),
        line("working_dir", text(&config.working_dir)),
        line("user", text(&config.user)),
        line("shell", list(&config.shell)),
        line("exposed_ports", set(&config.exposed_ports)),
        line("volumes", set(&config.volumes)),
        line("stop_signal", text(&config.stop_signal)),
        line("healthcheck", healthcheck),
        line("on_build", list(&config.on_build)),
        line("labels", labels),
    ]
    .concat();
    format!("sha256:{}", lock::sha256_hex(content.as_bytes()))
}

/// What to show of a container that did not serve: its last `tail` lines, preceded by the app's
/// first Python traceback when that is further up (gunicorn starts several workers, and their
/// shutdown messages push the one line that says what went wrong out of the tail).
pub(crate) fn app_lines(logs: &str, tail: usize) -> String {
    let lines: Vec<&str> = logs.lines().collect();
    let last = lines.len().saturating_sub(tail);
    let is_error = |l: &&str| {
        let head = l.split(':').next().unwrap_or_default();
        !l.starts_with(' ')
            && (head.ends_with("Error") || head.ends_with("Exception"))
            && !l.contains("HaltServer")
    };
    let first = lines.iter().position(is_error).filter(|&at| at < last);
    match first {
        Some(at) => {
            let start = lines[..at].iter().rposition(|l| l.starts_with("Traceback")).unwrap_or(at);
            let start = start.max(at.saturating_sub(30));
            format!("{}\n…\n{}", lines[start..=at].join("\n"), lines[last..].join("\n"))
        }
        None => lines[last..].join("\n"),
    }
}

/// The CPU of the Linux image among the platforms a registry lists for a reference: an index
/// lists each image's, and attestations as `unknown/unknown`; a single manifest may list none
/// (Docker 26 with the containerd store says nothing for a single OCI manifest), and then the
/// caller knows it otherwise (the tag's key names the architecture it was built for).
fn linux_architecture(platforms: &[bollard::models::OciPlatform]) -> Option<String> {
    platforms
        .iter()
        .filter(|p| p.os.as_deref() == Some("linux"))
        .filter_map(|p| p.architecture.clone())
        .find(|a| a != "unknown")
}

/// One line for a failed build step: the step (cut to a readable length) and Docker's reason
/// without the command it repeats.
fn build_failure(step: &str, why: &str) -> Error {
    let why = why.trim();
    let why = match why.find("returned a non-zero code") {
        Some(at) => format!("the command {}", &why[at..]),
        None => why.to_string(),
    };
    let mut short: String = step.chars().take(90).collect();
    if step.chars().count() > 90 {
        short.push('…');
    }
    let at = if short.is_empty() { String::new() } else { format!(" at {short}") };
    Error::commit_failed(format!("image build failed{at}: {why}"))
}

/// An image in a registry.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `registry/repo@sha256:…`
    pub reference: String,
    /// False when the registry already had the tag.
    pub pushed: bool,
    /// Docker's architecture name, when the registry says.
    pub architecture: Option<String>,
}

/// Where the app's published ports are bound, where aws-app reaches them, and the host named in
/// the printed URL.
struct Endpoint {
    bind_ip: &'static str,
    reach: String,
    url_host: String,
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
}

/// Loopback by default. When aws-app itself runs in a container (the tool image sets
/// AWS_APP_LOCAL_HOST to the Docker host's name), ports are bound on the host's interfaces and
/// reached through that name. With an engine on another machine (only over TLS: `host::Host`),
/// the app runs on that host and is reached there.
fn endpoint() -> Endpoint {
    if let Ok(host) = std::env::var("AWS_APP_LOCAL_HOST")
        && !host.is_empty()
        && !is_loopback(&host)
    {
        return Endpoint { bind_ip: "0.0.0.0", reach: host, url_host: "localhost".into() };
    }
    if let Ok(host::Host::Tls { server, .. }) = host::Host::from_vars(|n| std::env::var(n).ok())
        && !is_loopback(&server)
    {
        let url_host = if server.contains(':') { format!("[{server}]") } else { server.clone() };
        return Endpoint { bind_ip: "0.0.0.0", reach: server, url_host };
    }
    Endpoint { bind_ip: "127.0.0.1", reach: "127.0.0.1".into(), url_host: "localhost".into() }
}

fn published_port(settings: &Option<bollard::models::NetworkSettings>) -> Option<u16> {
    settings
        .as_ref()?
        .ports
        .as_ref()?
        .get(&format!("{APP_PORT}/tcp"))?
        .as_ref()?
        .iter()
        .find_map(|b| b.host_port.as_deref()?.parse().ok())
}

/// A smoke test's sign of life on this machine: a file named by its run's id (`run_id`, the
/// container's RUN_ID_LABEL) that the run holds locked while the container lives. Locks (not PIDs) say whether a run is
/// alive: the kernel releases them when the process ends, however it ends, and they mean the
/// same in every PID namespace. Without a writable temporary directory there is no mark, and a
/// stale container is known by its age only.
struct RunMark {
    path: std::path::PathBuf,
    _held: std::fs::File,
}

impl RunMark {
    fn dir() -> std::path::PathBuf {
        std::env::temp_dir().join("aws-app-runs")
    }

    fn path(run: &str) -> std::path::PathBuf {
        RunMark::dir().join(format!("{run}.lock"))
    }

    fn new() -> Option<RunMark> {
        std::fs::create_dir_all(RunMark::dir()).ok()?;
        let path = RunMark::path(run_id());
        let file = std::fs::File::create_new(&path).ok()?;
        if file.try_lock().is_err() {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(RunMark { path, _held: file })
    }

    /// Removes the marks of killed runs whose containers went another way (`destroy --local`,
    /// `docker rm`): once older than STALE_SMOKE, their containers go by age anyway.
    fn sweep() {
        for entry in std::fs::read_dir(RunMark::dir()).into_iter().flatten().flatten() {
            let path = entry.path();
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_SMOKE);
            let run = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            if old && run.and_then(|run| RunMark::gone(&run)) == Some(true) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Whether the run `run` (a RUN_ID_LABEL) is gone: its mark's lock is free. None when it
    /// has no mark here (another machine's run, or not aws-app's label).
    fn gone(run: &str) -> Option<bool> {
        if run.is_empty() || !run.chars().all(|c| c.is_ascii_digit() || c == '-') {
            return None;
        }
        let file = std::fs::File::open(RunMark::path(run)).ok()?;
        match file.try_lock_shared() {
            Ok(()) => Some(true),
            Err(std::fs::TryLockError::WouldBlock) => Some(false),
            Err(std::fs::TryLockError::Error(_)) => None,
        }
    }
}

impl Drop for RunMark {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// This process's id among aws-app runs (pid and start time: unique on one engine's host).
fn run_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        format!("{}-{}", std::process::id(), since.map_or(0, |d| d.as_nanos()))
    })
}

/// Whether a container is the local container `name` set aside by `run_local`: Some(whether it
/// ran).
fn aside_of(c: &bollard::models::ContainerSummary, name: &str) -> Option<bool> {
    c.names.iter().flatten().find_map(|n| {
        let rest = n.trim_start_matches('/').strip_prefix(name)?;
        if rest.starts_with(ASIDE_STOPPED) {
            Some(false)
        } else {
            rest.starts_with(ASIDE_RUNNING).then_some(true)
        }
    })
}

fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..12.min(id.len())]
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

fn is_conflict(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 409, .. })
}

#[cfg(test)]
mod tests {
    use bollard::models::{ImageConfig, ImageInspect, ImageInspectRootFs, OciPlatform};

    fn inspected(user: Option<&str>, env: Option<Vec<&str>>, label: Option<&str>) -> ImageInspect {
        ImageInspect {
            os: Some("linux".into()),
            architecture: Some("amd64".into()),
            root_fs: Some(ImageInspectRootFs {
                layers: Some(vec!["sha256:aa".into()]),
                ..Default::default()
            }),
            config: Some(ImageConfig {
                user: user.map(str::to_string),
                env: env.map(|e| e.into_iter().map(str::to_string).collect()),
                working_dir: Some(String::new()),
                labels: label
                    .map(|l| std::collections::HashMap::from([("x".to_string(), l.to_string())])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_base_image_has_one_identity_whatever_the_engine_leaves_out() {
        // Docker 20.10/26 send empty strings and lists; API 1.52+ (Engine 29) leaves them out.
        let older = inspected(Some(""), Some(vec!["PATH=/usr/bin"]), None);
        let mut newer = inspected(None, Some(vec!["PATH=/usr/bin"]), None);
        if let Some(config) = newer.config.as_mut() {
            config.working_dir = None;
            config.labels = Some(Default::default());
        }
        assert_eq!(super::content_identity(&older), super::content_identity(&newer));
        // What a build inherits changes it: a label, an environment, a user.
        let base = super::content_identity(&older);
        assert_ne!(
            base,
            super::content_identity(&inspected(Some(""), Some(vec!["PATH=/usr/bin"]), Some("v")))
        );
        assert_ne!(
            base,
            super::content_identity(&inspected(Some(""), Some(vec!["PATH=/bin"]), None))
        );
        assert_ne!(
            base,
            super::content_identity(&inspected(Some("app"), Some(vec!["PATH=/usr/bin"]), None))
        );
    }

    fn platform(os: &str, architecture: &str) -> OciPlatform {
        OciPlatform {
            os: Some(os.to_string()),
            architecture: Some(architecture.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn the_apps_own_error_is_shown_even_when_worker_noise_follows_it() {
        let mut logs = vec![
            "[INFO] Booting worker",
            "Traceback (most recent call last):",
            "  File \"/app/app.py\", line 2, in <module>",
            "ModuleNotFoundError: No module named 'x'",
        ];
        logs.extend(std::iter::repeat_n("[WARNING] Worker terminated", 50));
        logs.push("gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>");
        let shown = super::app_lines(&logs.join("\n"), 40);
        assert!(shown.starts_with("Traceback"), "{shown}");
        assert!(shown.contains("ModuleNotFoundError: No module named 'x'\n…\n"), "{shown}");
        assert!(shown.ends_with("HaltServer 'Worker failed to boot.' 3>"), "{shown}");
        // Within the tail already: just the tail.
        let short = "a\nValueError: bad\nb";
        assert_eq!(super::app_lines(short, 40), short);
    }

    #[test]
    fn the_linux_image_of_an_index_is_found_past_its_attestations() {
        let index = [platform("unknown", "unknown"), platform("linux", "arm64")];
        assert_eq!(super::linux_architecture(&index).as_deref(), Some("arm64"));
        let pushed_from_a_mac = [platform("linux", "arm64"), platform("unknown", "unknown")];
        assert_eq!(super::linux_architecture(&pushed_from_a_mac).as_deref(), Some("arm64"));
        assert_eq!(
            super::linux_architecture(&[platform("linux", "amd64")]).as_deref(),
            Some("amd64")
        );
        assert_eq!(super::linux_architecture(&[]), None, "a single OCI manifest on Docker 26");
        assert_eq!(super::linux_architecture(&[platform("windows", "amd64")]), None);
    }
}
