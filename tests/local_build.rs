//! Local Docker build only mode against the real engine: `build --run` end to end, layer reuse
//! on a one-line change, an app that fails at import, and `destroy --local`.

use crate::support::*;

#[test]
fn build_run_serves_the_app_and_destroy_local_removes_it() {
    let fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("e2e");
    let port = free_port().to_string();
    let url = fixture.url();
    let args = ["build", "--run", "--port", &port, "--repo", &url, "--prefix", prefix.as_str()];
    let run = aws_app(&args, &build_env());
    assert_eq!(run.code, 0, "{run:?}");

    let printed = run.last_stdout_line();
    assert_eq!(printed, format!("http://localhost:{port}/"), "{run:?}");
    let (status, body) = http_get(printed);
    assert_eq!(status, 200);
    assert!(body.contains("<h1>Hello World!</h1>"), "{body}");
    assert!(body.contains("I'm being run from <code>/app</code>"), "{body}");

    // The container stays up, named and labelled, running the commit's image as a non-root user.
    let name = format!("{}-aws-app-local", prefix.as_str());
    let inspect = docker(&[
        "inspect",
        "--format",
        "{{.State.Running}} {{.Config.User}} {{.Config.Image}}",
        &name,
    ]);
    let fields: Vec<&str> = inspect.split_whitespace().collect();
    assert_eq!(fields[..2], ["true", "10001:10001"], "{inspect}");
    // The tag: the commit, then the key of the other build inputs.
    let image = fields[2];
    assert!(
        image.starts_with(&format!("{}-aws-app:{}-", prefix.as_str(), fixture.head())),
        "{image}"
    );
    assert_eq!(tag_parts(image).0, fixture.head());
    let labels = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"org.opencontainers.image.revision\"}} {{index .Config.Labels \"org.opencontainers.image.created\"}}",
        image,
    ]);
    assert_eq!(labels.trim(), format!("{} 2021-11-16T10:00:00Z", fixture.head()));
    assert_eq!(containers_of(prefix.as_str()).len(), 1, "only the local container remains");

    // A second --run replaces the container instead of adding one.
    let first_id = docker(&["inspect", "--format", "{{.Id}}", &name]);
    let again = aws_app(&args, &build_env());
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(containers_of(prefix.as_str()).len(), 1);
    assert_ne!(docker(&["inspect", "--format", "{{.Id}}", &name]), first_id, "replaced");
    assert_eq!(http_get(printed).0, 200);

    // A port another program holds: exit 2 before the running container is touched.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("addr").port().to_string();
    let mut busy = args;
    busy[3] = &taken_port;
    let refused = aws_app(&busy, &build_env());
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.last_stderr_line().contains(&format!("port {taken_port} is already in use")),
        "{refused:?}"
    );
    assert_eq!(http_get(printed).0, 200, "the earlier container still serves");

    let destroy = aws_app(&["destroy", "--local", "--prefix", prefix.as_str()], &[]);
    assert_eq!(destroy.code, 0, "{destroy:?}");
    assert!(destroy.stderr.contains("removed 1 container(s) and 1 image(s)"), "{destroy:?}");
    assert!(containers_of(prefix.as_str()).is_empty());
    let images = docker(&["images", "-q", &format!("{}-aws-app", prefix.as_str())]);
    assert!(images.trim().is_empty(), "images left: {images}");
    let twice = aws_app(&["destroy", "--local", "--prefix", prefix.as_str()], &[]);
    assert_eq!(twice.code, 0, "{twice:?}");
    assert!(twice.stderr.contains("nothing to remove"), "{twice:?}");
}

#[test]
fn a_one_line_app_change_rebuilds_only_the_app_layer() {
    let mut fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("layers");
    let url = fixture.url();
    let build = |fixture: &Fixture| {
        let run = aws_app(
            &["build", "--json", "--repo", &url, "--prefix", prefix.as_str()],
            &build_env(),
        );
        assert_eq!(run.code, 0, "{run:?}");
        let json = run.json();
        assert_eq!(json["commit"], fixture.head());
        assert_eq!(json["url"], serde_json::Value::Null, "no --run, no URL");
        json["image"].as_str().expect("image").to_string()
    };
    let first = build(&fixture);

    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello again!"));
    fixture.commit("Change the greeting");
    let second = build(&fixture);
    assert_ne!(first, second, "a new commit is a new tag");

    let (a, b) = (layers(&first), layers(&second));
    let base = layers(base_image());
    assert_eq!(a.len(), b.len(), "same Dockerfile, same number of layers");
    assert!(a.len() > base.len() + 1, "base + dependency layers + app layer");
    assert_eq!(a[..a.len() - 1], b[..b.len() - 1], "base and dependency layers are reused");
    assert_ne!(a.last(), b.last(), "the app layer holds the change");
    assert!(containers_of(prefix.as_str()).is_empty(), "smoke containers are removed");
}

#[test]
fn an_app_that_fails_at_import_fails_the_build_and_leaves_no_container() {
    let broken = APP_PY.replace("import os\n", "import os\nimport module_that_does_not_exist\n");
    let fixture = Fixture::new(&broken);
    let prefix = Prefix::new("broken");
    let url = fixture.url();
    let run = aws_app(
        &[
            "build",
            "--run",
            "--port",
            &free_port().to_string(),
            "--repo",
            &url,
            "--prefix",
            prefix.as_str(),
        ],
        &build_env(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.trim().is_empty(), "no URL is printed: {run:?}");
    assert!(
        run.stderr.contains("ModuleNotFoundError: No module named 'module_that_does_not_exist'"),
        "the container's logs show the import error: {run:?}"
    );
    assert!(run.last_stderr_line().starts_with("aws-app: error: the app exited"), "{run:?}");
    assert!(containers_of(prefix.as_str()).is_empty(), "no container is left");
}

#[test]
fn variables_reach_the_smoke_test_and_the_local_container() {
    let app = APP_PY.replace(
        "\"<h1>Hello World!</h1>",
        "\"<h1>\" + os.environ.get(\"GREETING\", \"no greeting\") + \"</h1>",
    );
    let fixture = Fixture::new(&app);
    let prefix = Prefix::new("localvars");
    let url = fixture.url();
    let port = free_port().to_string();
    // The smoke test serves the variable's page (else --expect fails it), and so does the
    // container left running.
    let args = [
        "build",
        "--run",
        "--port",
        &port,
        "--repo",
        &url,
        "--prefix",
        prefix.as_str(),
        "--env",
        "GREETING=Hello local",
        "--expect",
        "<h1>Hello local</h1>",
    ];
    let run = aws_app(&args, &build_env());
    assert_eq!(run.code, 0, "{run:?}");
    let (status, body) = http_get(run.last_stdout_line());
    assert_eq!(status, 200);
    assert!(body.contains("<h1>Hello local</h1>"), "{body}");
    let destroyed = aws_app(&["destroy", "--local", "--prefix", prefix.as_str()], &build_env());
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
}

#[test]
fn expect_text_missing_from_the_page_fails_the_smoke_test() {
    let fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("expect");
    let url = fixture.url();
    let base = ["build", "--repo", &url, "--prefix", prefix.as_str()];
    let ok = aws_app(&[&base[..], &["--expect", "Hello World!"]].concat(), &build_env());
    assert_eq!(ok.code, 0, "{ok:?}");
    let missing = aws_app(&[&base[..], &["--expect", "Goodbye"]].concat(), &build_env());
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.last_stderr_line().contains("without 'Goodbye' in the page"), "{missing:?}");
    assert!(containers_of(prefix.as_str()).is_empty());
}

#[test]
fn a_failing_build_step_fails_with_that_steps_output() {
    let mut fixture = Fixture::new(APP_PY);
    fixture.write("requirements.txt", "flask==2.0.2\naws-app-no-such-package==1.0\n");
    fixture.commit("Depend on a package that does not exist");
    let prefix = Prefix::new("badpin");
    let url = fixture.url();
    let run = aws_app(&["build", "--repo", &url, "--prefix", prefix.as_str()], &build_env());
    assert_eq!(run.code, 1, "{run:?}");
    let last = run.last_stderr_line();
    assert!(last.starts_with("aws-app: error: image build failed at Step "), "{run:?}");
    assert!(last.contains("RUN "), "the failing step is named: {last}");
    assert!(last.contains("non-zero code"), "the daemon's error is kept: {last}");
    // Once as the build streams, once again with the error: the step's output is part of it.
    let pip_error = "No matching distribution found for aws-app-no-such-package==1.0";
    assert!(run.stderr.matches(pip_error).count() >= 2, "{run:?}");
    assert!(containers_of(prefix.as_str()).is_empty());
}

#[test]
fn sigterm_during_the_smoke_test_removes_its_container() {
    // An app that takes long to import keeps the smoke test waiting.
    let slow = APP_PY.replace("import os\n", "import os\nimport time\ntime.sleep(60)\n");
    let fixture = Fixture::new(&slow);
    let prefix = Prefix::new("sigterm");
    let url = fixture.url();
    let mut cmd = command(&[BIN, "build", "--repo", &url, "--prefix", prefix.as_str()]);
    cmd.envs(build_env());
    let mut run = Spawned::start(cmd);
    run.wait_for_start("aws-app: built ");
    // The smoke container is up once the label filter sees it.
    wait_until("a smoke container", || !containers_of(prefix.as_str()).is_empty());
    run.signal("-TERM");
    let (code, seen) = run.finish();
    assert_eq!(code, Some(130), "{seen}");
    assert!(
        seen.contains("stopped by SIGTERM; removed the 1 container(s) it had started"),
        "{seen}"
    );
    assert!(containers_of(prefix.as_str()).is_empty(), "nothing is left running");
}

#[test]
fn a_new_local_container_that_does_not_serve_gives_the_port_back_to_the_earlier_one() {
    let mut fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("restore");
    let port = free_port().to_string();
    let url = fixture.url();
    let args = ["build", "--run", "--port", &port, "--repo", &url, "--prefix", prefix.as_str()];
    let first = aws_app(&args, &build_env());
    assert_eq!(first.code, 0, "{first:?}");
    let printed = first.last_stdout_line().to_string();
    let name = format!("{}-aws-app-local", prefix.as_str());
    let first_id = docker(&["inspect", "--format", "{{.Id}}", &name]);

    // A commit that fails its smoke test: the earlier container is not touched.
    fixture.write("app.py", &APP_PY.replace("import os\n", "import os\nraise SystemExit(3)\n"));
    fixture.commit("Break the app");
    let broken = aws_app(&args, &build_env());
    assert_eq!(broken.code, 1, "{broken:?}");
    // Gunicorn exits 3 when its worker cannot boot, or 1 when the worker's exit interrupts
    // the arbiter's own halt (a race in gunicorn, seen on a loaded machine): either is the
    // app's exit.
    let last = broken.last_stderr_line();
    assert!(
        ["(code 3)", "(code 1)"].iter().any(|c| last.contains(&format!("the app exited {c}"))),
        "{broken:?}"
    );
    assert_eq!(docker(&["inspect", "--format", "{{.Id}}", &name]), first_id);
    assert_eq!(http_get(&printed).0, 200);

    // A commit that passes its smoke test but does not serve as the local container (it exits
    // when its processes are unbounded, as they are outside a smoke test): the earlier
    // container serves on the port again, under its name, and it is the only one left.
    let picky = "import os\nwith open([p for p in ('/sys/fs/cgroup/pids.max', \
                 '/sys/fs/cgroup/pids/pids.max') if os.path.exists(p)][0]) as f:\n    \
                 if f.read().strip() == 'max':\n        raise SystemExit(4)\n";
    fixture.write("app.py", &APP_PY.replace("import os\n", picky).replace("Hello World!", "Picky"));
    fixture.commit("Serve only when bounded");
    let refused = aws_app(&args, &build_env());
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("smoke test passed"), "{refused:?}");
    let last = refused.last_stderr_line();
    assert!(last.contains("the app exited (code "), "{last}");
    assert!(last.ends_with("(the earlier container serves again)"), "{last}");
    let (status, body) = http_get(&printed);
    assert_eq!(status, 200);
    assert!(body.contains("Hello World!"), "{body}");
    assert_eq!(docker(&["inspect", "--format", "{{.Id}}", &name]), first_id);
    assert_eq!(containers_of(prefix.as_str()).len(), 1, "only the earlier container");

    // Interrupted while the new local container starts (it is slow to serve outside a smoke
    // test): the earlier one serves as before.
    let slow = picky.replace("raise SystemExit(4)", "import time; time.sleep(60)");
    fixture.write("app.py", &APP_PY.replace("import os\n", &slow));
    fixture.commit("Slow outside a smoke test");
    let mut cmd = command(&[&[BIN][..], &args[..]].concat());
    cmd.envs(build_env());
    let mut run = Spawned::start(cmd);
    run.wait_for("smoke test passed");
    wait_until("the new container's start", || {
        !docker(&["ps", "-q", "--filter", &format!("name=^{name}$")]).trim().is_empty()
    });
    run.signal("-INT");
    let (code, seen) = run.finish();
    assert_eq!(code, Some(130), "{seen}");
    assert!(seen.contains(&format!("{name} serves as before")), "{seen}");
    assert!(http_get(&printed).1.contains("Hello World!"));
    assert_eq!(docker(&["inspect", "--format", "{{.Id}}", &name]), first_id);
    assert_eq!(containers_of(prefix.as_str()).len(), 1, "only the earlier container");

    // A commit that serves replaces it.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello again!"));
    fixture.commit("Mend the app");
    let mended = aws_app(&args, &build_env());
    assert_eq!(mended.code, 0, "{mended:?}");
    assert!(http_get(&printed).1.contains("Hello again!"));
    assert_eq!(containers_of(prefix.as_str()).len(), 1);
    assert_eq!(aws_app(&["destroy", "--local", "--prefix", prefix.as_str()], &[]).code, 0);
}

#[test]
fn a_smoke_container_a_killed_run_left_is_removed_by_the_next_run_and_a_live_ones_is_kept() {
    let slow = APP_PY.replace("import os\n", "import os\nimport time\ntime.sleep(120)\n");
    let slow_fixture = Fixture::new(&slow);
    let fast_fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("stale");
    let p = prefix.as_str();
    let tmp = tempfile::tempdir().expect("temp dir");
    let tmpdir = tmp.path().to_str().expect("utf-8");
    let env = [build_env()[0], ("TMPDIR", tmpdir)];
    // A run of the slow app, up to its smoke container.
    let start_slow = || {
        let mut cmd = command(&[BIN, "build", "--repo", &slow_fixture.url(), "--prefix", p]);
        cmd.envs(env);
        let mut run = Spawned::start(cmd);
        run.wait_for("aws-app: built ");
        wait_until("a smoke container", || !containers_of(p).is_empty());
        run
    };
    let fast = || aws_app(&["build", "--repo", &fast_fixture.url(), "--prefix", p], &env);

    // While the slow run lives, a run beside it leaves its smoke container alone.
    let mut alive = start_slow();
    let left = containers_of(p);
    assert_eq!(left.len(), 1);
    let beside = fast();
    assert_eq!(beside.code, 0, "{beside:?}");
    assert!(!beside.stderr.contains("a stopped run left"), "{beside:?}");
    assert_eq!(containers_of(p), left, "the live run's container stays");

    // Killed (no chance to clean up): the next run removes what it left.
    alive.signal("-KILL");
    alive.child.wait().expect("wait");
    assert_eq!(containers_of(p), left, "a killed run cleans nothing up");
    let next = fast();
    assert_eq!(next.code, 0, "{next:?}");
    assert!(next.stderr.contains("a stopped run left"), "{next:?}");
    assert!(containers_of(p).is_empty(), "{next:?}");
    let marks = std::fs::read_dir(tmp.path().join("aws-app-runs")).expect("marks").count();
    assert_eq!(marks, 0, "no lock file is left");
}

/// `aws-app ARGS` with the build environment on a pseudo-terminal.
fn on_a_terminal(args: &[&str]) -> Run {
    let argv = [&[BIN][..], args].concat();
    terminal(&argv, &build_env())
}

#[test]
fn progress_is_drawn_in_place_on_a_terminal_and_plain_lines_off_one() {
    let mut fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("progress");
    let url = fixture.url();
    let args = ["build", "--repo", &url, "--prefix", prefix.as_str()];

    // Off a terminal: one plain line per event, the build's own lines as they come, and not a
    // single control character.
    let plain = aws_app(&args, &build_env());
    assert_eq!(plain.code, 0, "{plain:?}");
    let controls = |s: &str| s.chars().any(|c| c.is_control() && c != '\n');
    assert!(!controls(&plain.stderr), "{:?}", plain.stderr);
    assert!(plain.stderr.lines().any(|l| l.starts_with("aws-app: building on ")), "{plain:?}");
    assert!(plain.stderr.lines().any(|l| l.starts_with("Step 1/")), "{plain:?}");
    assert!(plain.stderr.lines().all(|l| !l.trim().is_empty()), "no empty lines: {plain:?}");

    // On a terminal: each step redrawn in place with its elapsed time, the build collapsed to
    // its current step, and the step replaced by its outcome.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello, terminal!"));
    fixture.commit("A commit to build on a terminal");
    let tty = on_a_terminal(&args);
    assert_eq!(tty.code, 0, "{tty:?}");
    assert!(tty.stdout.contains("\x1b[2K"), "lines are redrawn in place: {tty:?}");
    let shown = drawings(&tty.stdout);
    let building: Vec<&&str> = shown.iter().filter(|s| s.contains("building on ")).collect();
    assert!(building.len() >= 2, "the build step is drawn more than once: {shown:#?}");
    assert!(
        building.iter().all(|s| s.trim_end().ends_with('s')),
        "with its elapsed time: {building:#?}"
    );
    assert!(
        building.iter().any(|s| s.contains(" · Step ")),
        "the build's current step is the line's detail: {building:#?}"
    );
    assert!(!shown.iter().any(|s| s.starts_with("Step ")), "no build lines: {shown:#?}");
    assert!(shown.iter().any(|s| s.starts_with("aws-app: built ")), "{shown:#?}");
    assert!(shown.iter().any(|s| s.starts_with("aws-app: smoke test passed")), "{shown:#?}");
    let reference = format!("{}-aws-app:{}-", prefix.as_str(), fixture.head());
    assert!(shown.last().is_some_and(|s| s.starts_with(&reference)), "{shown:#?}");

    // --verbose: the build's lines on the terminal too.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello, verbose!"));
    fixture.commit("A commit to build verbosely");
    let verbose = on_a_terminal(&[&args[..], &["--verbose"]].concat());
    assert_eq!(verbose.code, 0, "{verbose:?}");
    assert!(drawings(&verbose.stdout).iter().any(|s| s.starts_with("Step 1/")), "{verbose:?}");
}

#[test]
fn a_build_failing_on_a_terminal_shows_the_whole_build_output() {
    let mut fixture = Fixture::new(APP_PY);
    fixture.write("requirements.txt", "flask==2.0.2\naws-app-no-such-package==1.0\n");
    fixture.commit("Depend on a package that does not exist");
    let prefix = Prefix::new("ttyfail");
    let url = fixture.url();
    let run = on_a_terminal(&["build", "--repo", &url, "--prefix", prefix.as_str()]);
    assert_eq!(run.code, 1, "{run:?}");
    let shown = drawings(&run.stdout);
    // The build's output, collapsed while it ran, is printed whole before the error.
    let first = shown.iter().position(|s| s.starts_with("Step 1/")).expect("the output");
    let error = shown.iter().position(|s| s.starts_with("aws-app: error: image build failed"));
    assert!(error.is_some_and(|e| e > first), "{shown:#?}");
    assert!(shown[first..].iter().any(|s| s.starts_with("Step 11/")), "{shown:#?}");
    let pip_error = "No matching distribution found for aws-app-no-such-package==1.0";
    assert!(shown[first..].iter().any(|s| s.contains(pip_error)), "{shown:#?}");
    assert!(containers_of(prefix.as_str()).is_empty());
}
