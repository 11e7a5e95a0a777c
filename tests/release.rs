//! aws-app.sh without Rust or Docker: the release binary of the checkout's version, downloaded
//! from a release server (here python3's http.server on loopback, in dist's layout), run only if
//! its SHA-256 is the one committed in release/sha256.sum, and cached; scripts/update-sums.sh,
//! which writes that file from a release. Each test runs the script from a copy of the checkout
//! with a PATH of only the tools it needs: no cargo, rustc or docker.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::support::{BIN, Run, free_port, repo_root};

/// The version in Cargo.toml: the release aws-app.sh looks for is v<VERSION>.
const VERSION: &str = env!("CARGO_PKG_VERSION");

const TARGETS: [&str; 4] = [
    "aarch64-apple-darwin",
    "x86_64-apple-darwin",
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
];

/// What aws-app.sh and scripts/update-sums.sh may use (sha256sum, or shasum where it is missing).
const TOOLS: [&str; 11] =
    ["bash", "uname", "curl", "tar", "gzip", "mktemp", "sleep", "chmod", "mkdir", "mv", "rm"];

/// This machine's release target, as aws-app.sh works it out from `uname`.
fn host_triple() -> &'static str {
    static TRIPLE: OnceLock<&'static str> = OnceLock::new();
    TRIPLE.get_or_init(|| {
        let uname = |flag: &str| {
            let out = Command::new("uname").arg(flag).output().expect("uname");
            String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
        };
        match (uname("-s").as_str(), uname("-m").as_str()) {
            ("Linux", "x86_64" | "amd64") => "x86_64-unknown-linux-gnu",
            ("Linux", "aarch64" | "arm64") => "aarch64-unknown-linux-gnu",
            ("Darwin", "arm64" | "aarch64") => "aarch64-apple-darwin",
            ("Darwin", "x86_64") => "x86_64-apple-darwin",
            (os, arch) => panic!("no release target for {os} {arch}"),
        }
    })
}

fn archive_name(triple: &str) -> String {
    format!("aws-app-{triple}.tar.gz")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The release archive of this machine's target as dist lays it out (aws-app-<triple>/aws-app,
/// the binary under test), made once per test run (gzip -1: the binary is large), and its sum.
fn archive() -> &'static (PathBuf, String) {
    static ARCHIVE: OnceLock<(PathBuf, String)> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let triple = host_triple();
        let top = format!("aws-app-{triple}");
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("release-archive");
        std::fs::create_dir_all(&base).expect("mkdir");
        let stage = tempfile::tempdir_in(&base).expect("tempdir");
        std::fs::create_dir(stage.path().join(&top)).expect("mkdir");
        std::fs::copy(BIN, stage.path().join(&top).join("aws-app")).expect("copy the binary");
        let partial = stage.path().join("archive.tar.gz");
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(stage.path())
            .args(["-cf", "-", &top])
            .stdout(Stdio::piped())
            .spawn()
            .expect("tar");
        let gzip = Command::new("gzip")
            .arg("-1")
            .stdin(tar.stdout.take().expect("tar's stdout"))
            .stdout(std::fs::File::create(&partial).expect("create the archive"))
            .status()
            .expect("gzip");
        assert!(tar.wait().expect("tar").success() && gzip.success(), "making the archive");
        // Another test run may read the previous one: replace it in one rename.
        let path = base.join(archive_name(triple));
        std::fs::rename(&partial, &path).expect("rename");
        let sum = sha256_hex(&std::fs::read(&path).expect("read the archive"));
        (path, sum)
    })
}

/// A directory served over HTTP on loopback (stopped when dropped), with the requests it got.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

/// A file each server serves with its own directory's name in it: the answer tells this server
/// from another test's on a port reused meanwhile, or from a probe connected to itself.
const READY: &str = ".ready";

impl Server {
    fn start(dir: &Path, mut log: PathBuf) -> Server {
        let token = dir.display().to_string();
        std::fs::write(dir.join(READY), &token).expect("write the ready file");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("python3")
                .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
                .arg("--directory")
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("server log"))
                .spawn()
                .expect("start python3 -m http.server");
            let mut server = Server { child, url: format!("http://127.0.0.1:{port}"), log };
            for _ in 0..100 {
                if answers(port, &token) {
                    return server;
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the port was taken after all: another one
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            log = server.log.clone();
        }
        panic!("http.server did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The paths asked for so far (but the readiness checks).
    fn requests(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter_map(|line| line.split("\"GET ").nth(1))
            .map(|rest| rest.split(' ').next().unwrap_or("").to_string())
            .filter(|path| *path != format!("/{READY}"))
            .collect()
    }
}

/// Whether the server on `port` serves the ready file with `token` in it.
fn answers(port: u16, token: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut response = String::new();
    write!(stream, "GET /{READY} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_ok()
        && stream.shutdown(std::net::Shutdown::Write).is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.starts_with("HTTP/1.0 200")
        && response.ends_with(&format!("\r\n\r\n{token}"))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of the checkout (aws-app.sh, Cargo.toml, release/, scripts/update-sums.sh), a release
/// directory to serve (v<VERSION>/...), a PATH of tools, a HOME and a cache, all in one temp dir.
struct Setup {
    root: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let root = tempfile::Builder::new().prefix("aws-app-release-").tempdir().expect("tempdir");
        let setup = Setup { root };
        let repo = repo_root();
        let checkout = setup.checkout();
        for dir in ["release", "scripts"] {
            std::fs::create_dir_all(checkout.join(dir)).expect("mkdir");
        }
        for file in [
            "aws-app.sh",
            "Cargo.toml",
            "release/repository",
            "release/sha256.sum",
            "release/lib.sh",
            "scripts/update-sums.sh",
        ] {
            std::fs::copy(repo.join(file), checkout.join(file)).expect(file);
        }
        for dir in ["tools", "home", "cache"] {
            std::fs::create_dir(setup.root.path().join(dir)).expect("mkdir");
        }
        std::fs::create_dir_all(setup.release_dir()).expect("mkdir");
        setup.link_tools();
        setup
    }

    fn checkout(&self) -> PathBuf {
        self.root.path().join("checkout")
    }

    fn cache(&self) -> PathBuf {
        self.root.path().join("cache")
    }

    /// Where the release of VERSION is served from: <served>/v<VERSION>/.
    fn release_dir(&self) -> PathBuf {
        self.root.path().join("served").join(format!("v{VERSION}"))
    }

    /// The tools dir: links to the host's tools aws-app.sh needs, and nothing else.
    fn link_tools(&self) {
        let search = |name: &str| {
            let path = std::env::var_os("PATH").expect("PATH");
            std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
        };
        let sha = if search("sha256sum").is_some() { "sha256sum" } else { "shasum" };
        for tool in TOOLS.into_iter().chain([sha]) {
            let found = search(tool).unwrap_or_else(|| panic!("{tool} is not installed"));
            std::os::unix::fs::symlink(found, self.root.path().join("tools").join(tool))
                .expect("symlink");
        }
        for absent in ["cargo", "rustc", "docker"] {
            assert!(!self.root.path().join("tools").join(absent).exists());
        }
    }

    /// Puts this machine's archive (the binary under test) into the served release.
    fn publish_archive(&self) -> String {
        let (path, sum) = archive();
        let name = archive_name(host_triple());
        std::os::unix::fs::symlink(path, self.release_dir().join(name)).expect("symlink");
        sum.clone()
    }

    fn serve(&self) -> Server {
        Server::start(&self.root.path().join("served"), self.root.path().join("server.log"))
    }

    fn write_sums(&self, text: &str) {
        std::fs::write(self.checkout().join("release/sha256.sum"), text).expect("write sums");
    }

    fn sums(&self) -> String {
        std::fs::read_to_string(self.checkout().join("release/sha256.sum")).expect("read sums")
    }

    /// release/sha256.sum of VERSION with one line: SUM for this machine's archive.
    fn commit_sum(&self, sum: &str) {
        self.write_sums(&format!("# aws-app {VERSION}\n{sum} *{}\n", archive_name(host_triple())));
    }

    /// `bash <checkout>/<script> ARGS` with the tools PATH, the release at `url`, the test's
    /// HOME and cache, and no other variable (no AWS_APP_BIN, DOCKER_HOST, CARGO_*).
    fn run(&self, script: &str, args: &[&str], url: &str) -> Run {
        self.run_with(script, args, url, &[])
    }

    /// `run` with more variables (the AWS side's, for a deploy).
    fn run_with(&self, script: &str, args: &[&str], url: &str, vars: &[(&str, String)]) -> Run {
        let out = Command::new(self.root.path().join("tools/bash"))
            .arg(self.checkout().join(script))
            .args(args)
            .env_clear()
            .env("PATH", self.root.path().join("tools"))
            .env("HOME", self.root.path().join("home"))
            .env("AWS_APP_RELEASE_URL", url)
            .env("AWS_APP_CACHE_DIR", self.cache())
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .expect("run bash");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn aws_app_version(&self, url: &str) -> Run {
        self.run("aws-app.sh", &["--version"], url)
    }

    /// Every file under the cache, relative to it.
    fn cached_files(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("read_dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, base, found);
                } else {
                    found.push(path.strip_prefix(base).expect("prefix").display().to_string());
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.cache(), &self.cache(), &mut found);
        found.sort();
        found
    }
}

fn downloading_line() -> String {
    format!(
        "aws-app: downloading aws-app {VERSION} for {} (verified against release/sha256.sum)\n",
        host_triple()
    )
}

/// The one line a refusal prints: `aws-app: error: ...` containing each of `needles`.
fn assert_one_error_line(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty(), "nothing ran: {run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run:?}");
    assert!(run.stderr.starts_with("aws-app: error: "), "{run:?}");
    for needle in needles {
        assert!(run.stderr.contains(needle), "expected '{needle}' in: {}", run.stderr);
    }
}

#[test]
fn a_verified_release_binary_is_downloaded_and_run() {
    let setup = Setup::new();
    let sum = setup.publish_archive();
    setup.commit_sum(&sum);
    let server = setup.serve();

    let run = setup.aws_app_version(&server.url);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("aws-app {VERSION}\n"), "{run:?}");
    assert_eq!(run.stderr, downloading_line(), "{run:?}");
    assert_eq!(
        server.requests(),
        [format!("/v{VERSION}/{}", archive_name(host_triple()))],
        "one download"
    );
    // Kept under <version>-<first 12 of the sum>/<triple>/, and nothing else left behind.
    let cached = format!("{VERSION}-{}/{}/aws-app", &sum[..12], host_triple());
    assert_eq!(setup.cached_files(), [cached], "the binary only, no partial download");
}

#[test]
fn a_second_run_uses_the_cache_without_network_and_says_nothing() {
    let setup = Setup::new();
    let sum = setup.publish_archive();
    setup.commit_sum(&sum);
    let server = setup.serve();
    let url = server.url.clone();
    let first = setup.aws_app_version(&url);
    assert_eq!(first.code, 0, "{first:?}");
    drop(server);

    let second = setup.aws_app_version(&url);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(second.stdout, format!("aws-app {VERSION}\n"), "{second:?}");
    assert_eq!(second.stderr, "", "a cached run is silent: {second:?}");

    // Another committed sum is another cache key: the cached binary is not taken for it; the
    // download is made again, and refused.
    let server = setup.serve();
    let other_sum = "1".repeat(64);
    setup.commit_sum(&other_sum);
    let other = setup.aws_app_version(&server.url);
    assert_eq!(other.code, 2, "{other:?}");
    assert!(other.stdout.is_empty(), "{other:?}");
    assert!(other.stderr.contains(&format!("expected sha256 {other_sum}, got {sum}")), "{other:?}");
    assert_eq!(server.requests().len(), 1, "downloaded again");
}

#[test]
fn a_download_that_does_not_match_the_committed_sum_is_deleted_and_refused() {
    let setup = Setup::new();
    let actual = setup.publish_archive();
    let expected = "0123456789abcdef".repeat(4);
    setup.commit_sum(&expected);
    let server = setup.serve();

    let run = setup.aws_app_version(&server.url);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty(), "the binary was not run: {run:?}");
    // The note (bytes arrived), then one error line naming both sums.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run:?}\nserver log: {}", server.log_text());
    assert_eq!(format!("{}\n", lines[0]), downloading_line());
    let error = lines[1];
    assert!(error.starts_with("aws-app: error: "), "{run:?}");
    assert!(error.contains("does not match release/sha256.sum"), "{error}");
    assert!(error.contains(&format!("expected sha256 {expected}, got {actual}")), "{error}");
    assert!(error.contains("deleted, not run"), "{error}");
    assert_eq!(setup.cached_files(), Vec::<String>::new(), "nothing left in the cache");
}

#[test]
fn no_committed_sum_means_no_download_and_one_line_naming_rust_and_docker() {
    let setup = Setup::new();
    setup.publish_archive();
    // The file as committed before the first release: the header, no sums.
    let committed = std::fs::read_to_string(repo_root().join("release/sha256.sum")).expect("read");
    assert!(committed.starts_with(&format!("# aws-app {VERSION}\n")), "{committed}");
    let server = setup.serve();

    let run = setup.aws_app_version(&server.url);
    let missing = format!(
        "release/sha256.sum has no sum for {} of aws-app {VERSION}",
        archive_name(host_triple())
    );
    assert_one_error_line(&run, &[&missing, "https://rustup.rs", "Docker"]);
    assert_eq!(server.requests(), Vec::<String>::new(), "nothing downloaded");
    assert_eq!(setup.cached_files(), Vec::<String>::new());
}

#[test]
fn sums_of_another_version_count_as_missing() {
    let setup = Setup::new();
    let sum = setup.publish_archive();
    setup.write_sums(&format!("# aws-app 0.0.1-other\n{sum} *{}\n", archive_name(host_triple())));
    let server = setup.serve();

    let run = setup.aws_app_version(&server.url);
    let other =
        format!("release/sha256.sum holds the sums of aws-app 0.0.1-other, not of {VERSION}");
    assert_one_error_line(&run, &[&other, "https://rustup.rs", "Docker"]);
    assert_eq!(server.requests(), Vec::<String>::new(), "nothing downloaded");
}

#[test]
fn an_unreachable_release_server_is_one_line_naming_rust_and_docker() {
    let setup = Setup::new();
    let sum = setup.publish_archive();
    setup.commit_sum(&sum);
    // Port 1: nothing listens there, and no test binds it (free ports are ephemeral ones).
    let url = "http://127.0.0.1:1".to_string();

    let run = setup.aws_app_version(&url);
    let download = format!("cannot download {url}/v{VERSION}/{}", archive_name(host_triple()));
    assert_one_error_line(&run, &[&download, "install Rust (https://rustup.rs) or Docker"]);
    assert_eq!(setup.cached_files(), Vec::<String>::new(), "no partial download left");
}

/// Serves, beside this machine's archive, fake archives of the other targets, every archive's
/// .sha256 and the unified sha256.sum, as dist publishes them (`<hex> *<file>`, a blank line at
/// the end); `leave_out` is a target whose line sha256.sum lacks.
fn publish_release(setup: &Setup, leave_out: Option<&str>) {
    let host_sum = setup.publish_archive();
    let mut unified = String::new();
    for triple in TARGETS {
        let name = archive_name(triple);
        let sum = if triple == host_triple() {
            host_sum.clone()
        } else {
            let fake = format!("not really aws-app for {triple}\n");
            std::fs::write(setup.release_dir().join(&name), &fake).expect("write");
            sha256_hex(fake.as_bytes())
        };
        let line = format!("{sum} *{name}\n");
        std::fs::write(setup.release_dir().join(format!("{name}.sha256")), &line).expect("write");
        if leave_out != Some(triple) {
            unified.push_str(&line);
        }
    }
    let source = "0".repeat(64);
    unified.push_str(&format!("{source} *source.tar.gz\n\n"));
    std::fs::write(setup.release_dir().join("sha256.sum"), unified).expect("write");
}

#[test]
fn update_sums_records_a_release_that_aws_app_sh_then_verifies() {
    let setup = Setup::new();
    publish_release(&setup, None);
    let server = setup.serve();

    let update = setup.run("scripts/update-sums.sh", &[], &server.url);
    assert_eq!(update.code, 0, "{update:?}");
    let sums = setup.sums();
    assert!(sums.starts_with(&format!("# aws-app {VERSION}\n")), "{sums}");
    let lines: Vec<&str> = sums.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 4, "the four archives, not source.tar.gz: {sums}");
    for triple in TARGETS {
        assert!(
            lines.iter().any(|l| l.ends_with(&format!(" *{}", archive_name(triple)))),
            "{sums}"
        );
    }

    let run = setup.aws_app_version(&server.url);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("aws-app {VERSION}\n"), "{run:?}");
    assert_eq!(run.stderr, downloading_line(), "{run:?}");
}

#[test]
fn update_sums_refuses_a_release_without_every_target() {
    let setup = Setup::new();
    publish_release(&setup, Some("x86_64-apple-darwin"));
    let server = setup.serve();
    let before = setup.sums();

    let update = setup.run("scripts/update-sums.sh", &[], &server.url);
    assert_eq!(update.code, 1, "{update:?}");
    assert!(
        update.stderr.contains("has no sum for: aws-app-x86_64-apple-darwin.tar.gz"),
        "{update:?}"
    );
    assert_eq!(setup.sums(), before, "release/sha256.sum untouched");
}

/// The evaluation as a stock Mac runs it: neither cargo nor Docker (no engine answers), only the
/// release server and AWS. `./aws-app.sh` downloads the verified binary, builds on an EC2 builder
/// and prints a URL that serves the app.
#[test]
fn without_cargo_or_docker_aws_app_sh_prints_a_url_that_serves_the_app() {
    use crate::support::{APP_PY, Fixture, Prefix, aws_env};
    let env = aws_env();
    let setup = Setup::new();
    let sum = setup.publish_archive();
    setup.commit_sum(&sum);
    let server = setup.serve();
    // Its own app source: no intermediate image shared with a build running beside it (two
    // classic builds of identical steps on the containerd store can lose one's cached step).
    let fixture = Fixture::new(&format!("{APP_PY}\n# built by the evaluation tests\n"));
    let prefix = Prefix::new("evaluation");
    let mut vars: Vec<(&str, String)> = env.tool_env();
    vars.push(("DOCKER_HOST", "unix:///nonexistent/docker.sock".to_string()));
    vars.push(("AWS_APP_CHECKIP_URL", format!("{}/-/checkip", env.moto)));
    let run = setup.run_with(
        "aws-app.sh",
        &["--repo", &fixture.url(), "--prefix", prefix.as_str()],
        &server.url,
        &vars,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains(&downloading_line()), "{run:?}");
    assert!(run.stderr.contains("a build runs on an EC2 builder instead"), "{run:?}");
    let url = run.last_stdout_line();
    let (status, page) = env.get(url);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Hello"), "{page}");
    let destroyed = env.aws_app(&["destroy", "--yes", "--prefix", prefix.as_str()]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
}
