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
        // 2021-11-16T10:00:00Z for the first commit, a day later for each next one.
        let date = 1_637_056_800 + 86_400 * (u64::from(self.commits) - 1);
        self.commit_at(message, &format!("@{date} +0000"))
    }

    /// Commits everything dated now, as a commit pushed today would be; returns the SHA.
    pub fn commit_now(&mut self, message: &str) -> String {
        self.commits += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        self.commit_at(message, &format!("@{now} +0000"))
    }

    fn commit_at(&mut self, message: &str, date: &str) -> String {
        self.git(&["add", "-A"]);
        let status = Command::new("git")
            .current_dir(self.dir.path())
            .args(["-c", "user.name=Fixture", "-c", "user.email=fixture@example.com"])
            .args(["commit", "-q", "--allow-empty", "-m", message])
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
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

/// Runs a command without any AWS or aws-app variable of the test's own environment (no test
/// may reach real AWS through an inherited profile or endpoint), plus `env`.
pub fn run_command(argv: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(argv);
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

/// Runs a command (like `run_command`) on a pseudo-terminal, 100 columns wide, with
/// TERM=xterm (util-linux `script`): `stdout` is what a person at a terminal is sent, stdout
/// and stderr together.
pub fn terminal(argv: &[&str], env: &[(&str, &str)]) -> Run {
    let quoted: Vec<String> =
        argv.iter().map(|a| format!("'{}'", a.replace('\'', r"'\''"))).collect();
    let line = format!("stty cols 100 rows 30; exec {}", quoted.join(" "));
    let mut env = env.to_vec();
    env.push(("TERM", "xterm"));
    run_command(&["script", "-qefc", &line, "/dev/null"], &env)
}

/// What a terminal shows, one drawing at a time: the text between carriage returns and
/// newlines, with indicatif's line clearing taken out.
pub fn drawings(sent: &str) -> Vec<&str> {
    sent.split(['\r', '\n'])
        .map(|s| s.trim_start_matches("\x1b[2K"))
        .filter(|s| !s.is_empty())
        .collect()
}

/// A command with the test environment's AWS settings removed: AWS_*, the proxy variables, and
/// the shared config files pointed at nothing.
pub fn command(argv: &[&str]) -> Command {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("AWS_CONFIG_FILE", "/nonexistent/aws-app-test/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-app-test/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// The AWS side of the test environment (tests/env/aws-env.sh, started by tests/run.sh): moto,
/// the registry, the data plane's proxy. Every address must be on loopback, or the tests stop.
pub struct AwsEnv {
    /// The AWS endpoint: the strict layer (tests/env/strict/layer.py) in front of moto.
    pub moto: String,
    /// moto itself, for setting up what the tool would not send (e.g. more revisions than the
    /// layer's rate allows at once).
    pub moto_direct: String,
    pub registry: String,
    pub proxy: String,
    pub moto_log: String,
    /// The Python with boto3 that runs the layer (and a chaos front of it).
    pub python: String,
    /// A Docker client config with the test ECR registry's login (its hosts and password).
    pub ecr_docker_config: String,
    /// The system's CA bundle plus the test CA the data plane's load balancers present
    /// certificates of (`--domain`): the tool's SSL_CERT_FILE when it checks https URLs.
    pub trust: String,
}

pub fn aws_env() -> &'static AwsEnv {
    static ENV: OnceLock<AwsEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run the tests with tests/run.sh (it starts moto, the registry and the data plane)")
            })
        };
        let env = AwsEnv {
            moto: var("AWS_APP_TEST_MOTO"),
            registry: var("AWS_APP_TEST_REGISTRY"),
            proxy: var("AWS_APP_TEST_PROXY"),
            moto_log: var("AWS_APP_TEST_MOTO_LOG"),
            moto_direct: var("AWS_APP_TEST_MOTO_DIRECT"),
            python: var("AWS_APP_TEST_PYTHON"),
            ecr_docker_config: var("AWS_APP_TEST_ECR_DOCKER_CONFIG"),
            trust: var("AWS_APP_TEST_TRUST"),
        };
        for address in [&env.moto, &env.moto_direct, &env.registry, &env.proxy] {
            let host = address.trim_start_matches("http://");
            assert!(
                host.starts_with("127.0.0.1:") || host.starts_with("localhost:"),
                "refusing to run: {address} is not on loopback; the tests only talk to moto here"
            );
        }
        env
    })
}

impl AwsEnv {
    /// What the tool gets: the strict layer over moto for every AWS service, dummy credentials,
    /// the account's (test) ECR registry as a real user gets it (no override), the data plane
    /// as HTTP proxy (for the load balancers' names only).
    pub fn tool_env(&self) -> Vec<(&'static str, String)> {
        warm_build_cache();
        vec![
            ("AWS_ENDPOINT_URL", self.moto.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("HTTP_PROXY", self.proxy.clone()),
            ("HTTPS_PROXY", self.proxy.clone()),
            ("NO_PROXY", "127.0.0.1,localhost".into()),
            ("AWS_APP_BASE_IMAGE", base_image().into()),
        ]
    }

    /// Runs `aws-app ARGS` against this environment.
    pub fn aws_app(&self, args: &[&str]) -> Run {
        self.aws_app_with(args, &[])
    }

    /// Runs `aws-app ARGS` against this environment with some of its variables replaced or
    /// added (another AWS endpoint, DOCKER_HOST, a registry override, ...).
    pub fn aws_app_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let base = self.tool_env();
        let mut env: Vec<(&str, &str)> = base
            .iter()
            .filter(|(k, _)| !vars.iter().any(|(v, _)| v == k))
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        env.extend_from_slice(vars);
        aws_app(args, &env)
    }

    /// `aws-app ARGS` against this environment on a pseudo-terminal (see `terminal`).
    pub fn aws_app_on_a_terminal(&self, args: &[&str]) -> Run {
        let env = self.tool_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        terminal(&[&[BIN][..], args].concat(), &env)
    }

    /// The successful writes of the lock table for prefix `p`, in the order the layer passed
    /// them (it passes DynamoDB calls one at a time): (what, holder), what being `acquire`,
    /// `take over`, `renew` or `release`.
    pub fn lock_events(&self, p: &str) -> Vec<(String, String)> {
        let (status, body) = http_get(&format!("{}/-/locks", self.moto));
        assert_eq!(status, 200, "{body}");
        let all: Vec<serde_json::Value> = serde_json::from_str(&body).expect("lock events");
        all.iter()
            .filter(|e| e["prefix"] == p)
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (text("what"), text("holder"))
            })
            .collect()
    }

    /// `aws-app ARGS` against this environment (with `vars` replaced or added), not started.
    pub fn command(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut argv = vec![BIN];
        argv.extend_from_slice(args);
        let mut cmd = command(&argv);
        cmd.envs(self.tool_env()).envs(vars.iter().copied());
        cmd
    }

    /// The layer's counters: `{"refused": N, "throttled": {"<service> <Operation>": N}}`.
    pub fn layer_stats(&self) -> serde_json::Value {
        let (status, body) = http_get(&format!("{}/-/stats", self.moto));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("stats JSON")
    }

    /// A chaos front of the layer: with the given seed, a `rate` share of calls is answered
    /// with the service's throttling error or a 5xx before reaching AWS. Stopped when dropped.
    pub fn chaos(&self, seed: u64, rate: f64) -> ChaosFront {
        self.chaos_on(free_port(), seed, rate)
    }

    /// `chaos` on a given loopback port (a front started again where a stopped one was).
    pub fn chaos_on(&self, port: u16, seed: u64, rate: f64) -> ChaosFront {
        // Stopped when dropped, also by the panic below.
        let process = Helper(
            Command::new(&self.python)
                .arg(repo_root().join("tests/env/strict/layer.py"))
                .args(["--aws-port", &port.to_string(), "--upstream", &self.moto])
                .args(["--chaos", &seed.to_string(), "--chaos-rate", &rate.to_string()])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("start a chaos front"),
        );
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return ChaosFront { _process: process, url, port };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the chaos front did not start on {url}");
    }

    /// SDK clients on moto itself, past the layer.
    pub fn clients_direct(&self, region: &str) -> Moto {
        self.clients_at(&self.moto_direct, region)
    }

    /// `docker ARGS` logged in to the test ECR registry.
    pub fn docker_ecr(&self, args: &[&str]) -> String {
        let mut all = vec!["--config", self.ecr_docker_config.as_str()];
        all.extend_from_slice(args);
        docker(&all)
    }

    /// Starts `aws-app ARGS` against this environment and kills it (SIGKILL: no chance to clean
    /// up) as soon as a stderr line starts with `at`; returns what it printed until then.
    pub fn kill_at(&self, args: &[&str], at: &str) -> String {
        self.signal_at(args, at, "-KILL").1
    }

    /// Starts `aws-app ARGS` against this environment, sends `signal` (`-INT`, `-KILL`, ...) as
    /// soon as a stderr line starts with `at`, and waits for its end: exit code (-1 when killed
    /// by the signal) and all it printed.
    pub fn signal_at(&self, args: &[&str], at: &str, signal: &str) -> (i32, String) {
        let mut run = Spawned::start(self.command(args, &[]));
        run.wait_for_start(at);
        run.signal(signal);
        let (code, seen) = run.finish();
        (code.unwrap_or(-1), seen)
    }

    /// SDK clients on moto, for reading back what the tool made.
    pub fn clients(&self) -> Moto {
        self.clients_in("us-east-1")
    }

    /// SDK clients on moto in one region.
    pub fn clients_in(&self, region: &str) -> Moto {
        self.clients_at(&self.moto, region)
    }

    fn clients_at(&self, endpoint: &str, region: &str) -> Moto {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let config = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(aws_app::aws::http_client())
                .endpoint_url(endpoint)
                .region(aws_config::Region::new(region.to_string()))
                .credentials_provider(aws_credential_types::Credentials::new(
                    "testing", "testing", None, None, "tests",
                ))
                .load(),
        );
        Moto {
            acm: aws_sdk_acm::Client::new(&config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            ec2: aws_sdk_ec2::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            ecs: aws_sdk_ecs::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            kms: aws_sdk_kms::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            route53: aws_sdk_route53::Client::new(&config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            runtime,
        }
    }

    /// GET a URL through the data plane's proxy, as the tool and a browser on AWS would.
    pub fn get(&self, url: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let proxy = self.proxy.trim_start_matches("http://");
        let host = url.trim_start_matches("http://").split('/').next().expect("host");
        let mut stream = std::net::TcpStream::connect(proxy).expect("connect to the proxy");
        write!(stream, "GET {url} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
        let status = head.split_whitespace().nth(1).expect("status").parse().expect("code");
        (status, body.to_string())
    }
}

/// A process of the test environment (a server script), stopped when dropped.
pub struct Helper(std::process::Child);

impl Helper {
    /// `python script ARGS`, which prints the loopback port it serves on as its first line:
    /// the process and that port.
    pub fn serve(python: &str, script: &str, args: &[&str]) -> (Helper, String) {
        use std::io::BufRead;
        let mut child = Command::new(python)
            .arg(repo_root().join(script))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("read port");
        let helper = Helper(child);
        assert!(port.trim().parse::<u16>().is_ok(), "{script} did not start: {port:?}");
        (helper, port.trim().to_string())
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A chaos front (tests/env/strict/layer.py --chaos) of the strict layer.
pub struct ChaosFront {
    _process: Helper,
    pub url: String,
    pub port: u16,
}

/// A running aws-app whose stderr the test reads line by line: the one way the tests start the
/// tool to wait for a line of its progress and signal it.
pub struct Spawned {
    pub child: std::process::Child,
    /// Its stderr lines, read on a thread so that a wait has a deadline.
    lines: std::sync::mpsc::Receiver<String>,
    /// Every stderr line read so far.
    pub seen: String,
}

/// How long a wait for a line of progress may take before the test fails (the longest step of
/// a deploy against the test environment is well under it).
const LINE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

impl Spawned {
    /// Starts `cmd` (stdout dropped, stderr read by `wait_for`).
    pub fn start(mut cmd: Command) -> Spawned {
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start aws-app");
        let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Spawned { child, lines, seen: String::new() }
    }

    /// Reads stderr up to the first line containing `needle`; that line.
    pub fn wait_for(&mut self, needle: &str) -> String {
        self.wait_line(needle, |line| line.contains(needle))
    }

    /// Reads stderr up to the first line starting with `start`; that line.
    pub fn wait_for_start(&mut self, start: &str) -> String {
        self.wait_line(start, |line| line.starts_with(start))
    }

    fn wait_line(&mut self, what: &str, found: impl Fn(&str) -> bool) -> String {
        loop {
            let line = match self.lines.recv_timeout(LINE_DEADLINE) {
                Ok(line) => line,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("no '{what}' within {} s: {}", LINE_DEADLINE.as_secs(), self.seen)
                }
                Err(_) => panic!("ended before '{what}': {}", self.seen),
            };
            self.seen.push_str(&line);
            self.seen.push('\n');
            if found(&line) {
                return line;
            }
        }
    }

    /// `kill SIGNAL` (`-INT`, `-TERM`, `-KILL`, `-STOP`, ...) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().expect("kill");
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// Reads the rest of stderr and waits for the end: the exit code (None when killed by a
    /// signal) and everything read since the start.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("wait");
        for line in self.lines.iter() {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        (status.code(), self.seen)
    }
}

/// Polls `ready` every 100 ms for up to 30 s; fails the test naming `what` if it never holds.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{what} did not happen within 30 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// SDK clients reading moto, with a runtime to drive them from synchronous tests.
pub struct Moto {
    pub acm: aws_sdk_acm::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub kms: aws_sdk_kms::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub route53: aws_sdk_route53::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub runtime: tokio::runtime::Runtime,
}

impl Moto {
    pub fn run<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The prefix's ECS service as moto has it.
    pub fn service(&self, p: &str) -> aws_sdk_ecs::types::Service {
        self.run(async {
            let out = self
                .ecs
                .describe_services()
                .cluster(format!("{p}-aws-app"))
                .services(format!("{p}-aws-app"))
                .send()
                .await
                .expect("describe services");
            out.services().first().expect("the service").clone()
        })
    }

    /// The task definition the prefix's service runs.
    pub fn service_task_definition(&self, p: &str) -> String {
        self.service(p).task_definition().expect("task definition").to_string()
    }
}

/// A prefix of its own for each test, removed locally (containers, images) when dropped.
/// What an end-to-end test starts from: the test environment, SDK clients on moto, a fixture
/// repository of the app (its URL), and a prefix of its own (its local leftovers removed when
/// dropped). Destructured at the top of a test:
/// `let Scenario { env, moto, fixture, prefix, url } = Scenario::new("deploy");` (a test that
/// does not use the fixture binds it all the same, `fixture: _fixture`: it holds the repository).
pub struct Scenario {
    pub env: &'static AwsEnv,
    pub moto: Moto,
    pub fixture: Fixture,
    pub prefix: Prefix,
    pub url: String,
}

impl Scenario {
    /// The fixture app (`APP_PY`) under the prefix `it-<name>-<pid>`.
    pub fn new(name: &str) -> Scenario {
        Scenario::with_app(name, APP_PY)
    }

    /// Another `app.py` under the prefix `it-<name>-<pid>`.
    pub fn with_app(name: &str, app_py: &str) -> Scenario {
        Scenario::of(name, Fixture::new(app_py))
    }

    /// A fixture made otherwise under the prefix `it-<name>-<pid>`.
    pub fn of(name: &str, fixture: Fixture) -> Scenario {
        let env = aws_env();
        let url = fixture.url();
        Scenario { env, moto: env.clients(), fixture, prefix: Prefix::new(name), url }
    }
}

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

/// The account's ECR registry as the tests serve it (tests/env/ecr-twin.sh).
pub const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// GET from a registry (the test ECR registry over TLS with its login, or a plain one) with
/// the manifest types a registry client accepts: status and body.
pub fn registry_get(host: &str, path: &str) -> (u16, String) {
    let accept = "Accept: application/vnd.oci.image.index.v1+json, \
                  application/vnd.docker.distribution.manifest.list.v2+json, \
                  application/vnd.oci.image.manifest.v1+json, \
                  application/vnd.docker.distribution.manifest.v2+json";
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-L", "-H", accept, "-w", "\n%{http_code}"]);
    if host.contains(".dkr.ecr.") {
        let var =
            |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name}: run tests/run.sh"));
        cmd.args(["--cacert", &var("AWS_APP_TEST_ECR_CA")])
            .args(["-u", &format!("AWS:{}", var("AWS_APP_TEST_ECR_PASSWORD"))])
            .arg(format!("https://{host}{path}"));
    } else {
        cmd.arg(format!("http://{host}{path}"));
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("curl's status line");
    (status.trim().parse().unwrap_or(0), body.to_string())
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
    http_request("GET", url)
}

/// A request without a body (`POST` to the strict layer's test endpoints, say).
pub fn http_request(method: &str, url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).expect("path");
    let authority = authority.replace("localhost", "127.0.0.1");
    let mut stream = std::net::TcpStream::connect(&authority).expect("connect");
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Length: 0\r\n\r\n")
        .expect("send");
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
    _process: Helper,
    pub url: String,
}

impl GitHttp {
    pub fn serve(fixture: &Fixture) -> GitHttp {
        GitHttp::serve_private(fixture, None)
    }

    /// A server that answers only requests with HTTP basic auth `user:secret` (`login`).
    pub fn serve_private(fixture: &Fixture, login: Option<&str>) -> GitHttp {
        let mut args = vec![fixture.path().to_str().expect("utf-8")];
        args.extend(login);
        let (process, port) = Helper::serve("python3", "tests/env/git-http-server.py", &args);
        GitHttp { _process: process, url: format!("http://127.0.0.1:{port}/.git") }
    }
}

/// The image a build printed with `--json` (`<repo>:<commit>-<key>`): its commit and key.
pub fn tag_parts(image: &str) -> (String, String) {
    let tag = image.rsplit_once(':').expect("a tag").1;
    let (commit, key) = tag.split_once('-').expect("<commit>-<key>");
    assert_eq!((commit.len(), key.len()), (40, 12), "{image}");
    (commit.to_string(), key.to_string())
}

/// A base image with another ID than `base_image()` (same contents, one more label): what a
/// changed `--base-image`, or a base re-pulled with new patches, looks like to a build.
pub fn variant_base_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let tag = format!("{}-variant", base_image());
        let container = docker(&["create", base_image()]);
        let container = container.trim();
        docker(&["commit", "--change", "LABEL dev.aws-app.test=variant", container, &tag]);
        docker(&["rm", container]);
        tag
    })
}

/// An HTTP server on the Docker bridge's gateway (where build containers reach the host),
/// answering `GET <path>` with the given JSON documents and 404 otherwise; it counts requests.
/// Stands in for a PyPI mirror of the per-release JSON API where pypi.org's cannot be reached.
pub struct JsonServer {
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl JsonServer {
    pub fn serve(documents: Vec<(String, String)>) -> JsonServer {
        use std::io::{BufRead, BufReader, Write};
        let ipam = docker(&[
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{(index .IPAM.Config 0).Gateway}} {{(index .IPAM.Config 0).Subnet}}",
        ]);
        // Engines that leave the gateway out use the subnet's first address.
        let gateway = match ipam.split_whitespace().collect::<Vec<_>>()[..] {
            [gateway, _] => gateway.parse::<std::net::Ipv4Addr>().expect("gateway"),
            [subnet] => {
                let network: std::net::Ipv4Addr =
                    subnet.split('/').next().and_then(|a| a.parse().ok()).expect("subnet");
                std::net::Ipv4Addr::from(u32::from(network) + 1)
            }
            _ => panic!("no IPAM config on the bridge network: {ipam}"),
        };
        let listener = std::net::TcpListener::bind((gateway, 0)).expect("bind on the gateway");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                seen.lock().expect("lock").push(path.clone());
                let (status, body) = match documents.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => ("200 OK", body.clone()),
                    None => ("404 Not Found", "{}".to_string()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.0 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JsonServer { url, requests }
    }

    /// The paths asked so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}
