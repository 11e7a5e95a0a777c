//! What the integration tests share: running the binary, fixture git repositories of the
//! upstream app's shape, the local base image, free ports, cleanup.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const BIN: &str = env!("CARGO_BIN_EXE_aws-app");

/// The upstream app's shape (our own files): a Flask `app` in app.py, the same two pins, the
/// same page. `bench/` builds the same fixture.
pub const APP_PY: &str = include_str!("../fixtures/flask-app/app.py");
pub const REQUIREMENTS: &str = include_str!("../fixtures/flask-app/requirements.txt");

/// The base image every build in the tests uses (no registry can be reached here): the one
/// the test command exported, else built (or found cached) by tests/env/base-image.sh.
pub fn base_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        if let Ok(image) = std::env::var("AWS_APP_TEST_BASE_IMAGE") {
            return image;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/env/base-image.sh");
        let out = Command::new("bash").arg(script).output().expect("run tests/env/base-image.sh");
        assert!(out.status.success(), "base image: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
    })
}

/// Builds the fixture once before any test builds: concurrent first builds of the same
/// Dockerfile each make their own cache entries, and which one a later build reuses is Docker's
/// choice; with the cache warm, every build in the suite reuses the same layers.
pub fn warm_build_cache() {
    static WARM: OnceLock<()> = OnceLock::new();
    WARM.get_or_init(|| {
        let fixture = Fixture::new(APP_PY);
        let url = fixture.url();
        let run = aws_app(
            &["build", "--repo", &url, "--prefix", "it-cache"],
            &[("AWS_APP_BASE_IMAGE", base_image())],
        );
        assert_eq!(run.code, 0, "warming the build cache: {run:?}");
    });
}

/// The base image, with the build cache warm (what every building test needs).
pub fn build_env() -> [(&'static str, &'static str); 1] {
    warm_build_cache();
    [("AWS_APP_BASE_IMAGE", base_image())]
}

/// A git repository made by the test, served to aws-app as a file:// URL.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    commits: u32,
}

impl Fixture {
    /// A repository whose master has one commit with `app.py`, `requirements.txt`, `.gitignore`.
    /// Its date is the upstream HEAD's era, so dependencies resolve as of then.
    pub fn new(app_py: &str) -> Fixture {
        let dir = tempfile::Builder::new().prefix("aws-app-fixture-").tempdir().expect("tempdir");
        let fixture = Fixture { dir, commits: 0 };
        fixture.git(&["init", "-q", "-b", "master"]);
        fixture.write("app.py", app_py);
        fixture.write("requirements.txt", REQUIREMENTS);
        fixture.write(".gitignore", "*.pyc\n");
        fixture.write("README.md", "A fixture app of the upstream's shape.\n");
        let mut fixture = fixture;
        fixture.commit("Initial app");
        fixture
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write fixture file");
    }

    /// Commits everything, one day after the previous commit; returns the commit SHA.
    pub fn commit(&mut self, message: &str) -> String {
        self.commits += 1;
        let date = format!("2021-11-{:02}T10:00:00Z", 15 + self.commits);
        self.git(&["add", "-A"]);
        let status = Command::new("git")
            .current_dir(self.dir.path())
            .args(["-c", "user.name=Fixture", "-c", "user.email=fixture@example.com"])
            .args(["commit", "-q", "-m", message])
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .status()
            .expect("git commit");
        assert!(status.success());
        self.head()
    }

    /// Adds a branch at HEAD (master stays checked out).
    pub fn branch(&mut self, name: &str) {
        self.git(&["branch", name]);
    }

    pub fn head(&self) -> String {
        let out = Command::new("git")
            .current_dir(self.dir.path())
            .args(["rev-parse", "HEAD"])
            .output()
            .expect("git rev-parse");
        String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
    }

    fn git(&self, args: &[&str]) {
        let status =
            Command::new("git").current_dir(self.dir.path()).args(args).status().expect("git");
        assert!(status.success(), "git {args:?}");
    }
}

/// The outcome of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn last_stdout_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    pub fn last_stderr_line(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.last_stdout_line())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `aws-app ARGS` with a clean aws-app environment plus `env`.
pub fn aws_app(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec![BIN];
    all.extend_from_slice(args);
    run_command(&all, env)
}

/// Runs a command with the aws-app variables of the test's own environment removed.
pub fn run_command(argv: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    for var in ["AWS_APP_REPO", "AWS_APP_BRANCH", "AWS_APP_PREFIX", "AWS_APP_BASE_IMAGE"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output { status, stdout, stderr } = cmd.output().expect("run aws-app");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A prefix of its own for each test, removed locally (containers, images) when dropped.
pub struct Prefix(pub String);

impl Prefix {
    pub fn new(name: &str) -> Prefix {
        Prefix(format!("it-{name}-{}", std::process::id() % 100_000))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let _ = aws_app(&["destroy", "--local", "--prefix", &self.0], &[]);
    }
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `docker` CLI output (the tests read Docker's state with the stock client).
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker CLI");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Containers (any state) carrying the prefix label.
pub fn containers_of(prefix: &str) -> Vec<String> {
    docker(&["ps", "-aq", "--filter", &format!("label=dev.aws-app.prefix={prefix}")])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Layer digests of an image.
pub fn layers(image: &str) -> Vec<String> {
    docker(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", image])
        .trim()
        .parse::<serde_json::Value>()
        .expect("layers JSON")
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("digest").to_string())
        .collect()
}

/// GET http://127.0.0.1:PORT/ with the system's curl-free std client: status and body.
pub fn http_get(url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).expect("path");
    let authority = authority.replace("localhost", "127.0.0.1");
    let mut stream = std::net::TcpStream::connect(&authority).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    let status = head.split_whitespace().nth(1).expect("status").parse().expect("status code");
    (status, body.to_string())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A smart-HTTP git server (tests/env/git-http-server.py) serving one fixture on 127.0.0.1.
pub struct GitHttp {
    child: std::process::Child,
    pub url: String,
}

impl GitHttp {
    pub fn serve(fixture: &Fixture) -> GitHttp {
        use std::io::{BufRead, BufReader};
        let script = repo_root().join("tests/env/git-http-server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(fixture.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start git-http-server.py");
        let mut port = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("read port");
        let url = format!("http://127.0.0.1:{}/.git", port.trim());
        GitHttp { child, url }
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
