//! Bad input: exit 2 and one line that names the problem and the remedy, before anything is
//! built or started.

use crate::support::*;

/// The error is the last stderr line, it is one line, and nothing was built.
fn assert_input_error(run: &Run, needle: &str) {
    assert_eq!(run.code, 2, "{run:?}");
    let line = run.last_stderr_line();
    assert!(line.starts_with("aws-app: error: "), "{run:?}");
    assert!(line.contains(needle), "expected '{needle}' in: {line}");
    assert!(!run.stderr.contains("Step 1/"), "nothing was built: {run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
}

#[test]
fn invalid_prefix() {
    let run = aws_app(&["build", "--prefix", "Bad_Name"], &[]);
    assert_input_error(&run, "invalid prefix 'bad_name': '_' is not allowed");
    let run = aws_app(&["build", "--prefix", "a-very-long-operator-name"], &[]);
    assert_input_error(&run, "use a --prefix of at most 21 characters");
}

#[test]
fn keeping_fewer_images_than_rollback_needs_is_refused() {
    for keep in ["0", "1", "1001"] {
        let run = aws_app(&["deploy", "--prefix", "ann", "--keep-images", keep], &[]);
        assert_input_error(&run, &format!("--keep-images {keep}: keep 2 to 1000 images"));
    }
}

#[test]
fn unreachable_repo() {
    let prefix = Prefix::new("norepo");
    let run = aws_app(
        &["build", "--repo", "file:///nonexistent/aws-app-repo", "--prefix", prefix.as_str()],
        &[],
    );
    assert_input_error(&run, "cannot read the repository file:///nonexistent/aws-app-repo");
}

#[test]
fn unknown_branch_lists_the_branches() {
    let mut fixture = Fixture::new(APP_PY);
    fixture.branch("release-1");
    let prefix = Prefix::new("nobranch");
    let url = fixture.url();
    let run =
        aws_app(&["build", "--repo", &url, "--branch", "main", "--prefix", prefix.as_str()], &[]);
    assert_input_error(&run, "branch 'main' not found");
    assert!(run.last_stderr_line().contains("its branches: master, release-1"), "{run:?}");
}

#[test]
fn docker_not_reachable() {
    let fixture = Fixture::new(APP_PY);
    let url = fixture.url();
    let run = aws_app(
        &["build", "--repo", &url, "--prefix", "nodocker"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_input_error(&run, "cannot reach the Docker engine at unix:///nonexistent/docker.sock");
    assert!(run.last_stderr_line().contains("start Docker"), "{run:?}");
    // deploy would build on EC2 instead, unless told to insist on the local engine.
    let run = aws_app(
        &["deploy", "--builder", "local", "--repo", &url, "--prefix", "nodocker"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_input_error(&run, "cannot reach the Docker engine at unix:///nonexistent/docker.sock");
}

#[test]
fn a_builder_cidr_must_be_a_narrow_ipv4_range() {
    for (cidr, why) in [
        ("203.0.113.7", "no /length"),
        ("example.com/32", "not an IPv4 address"),
        ("0.0.0.0/0", "wider than /8 would open the builder's Docker API to much of the internet"),
        ("203.0.113.7/33", "the length must be 8 to 32"),
    ] {
        let run = aws_app(&["deploy", "--builder-cidr", cidr, "--prefix", "ann"], &[]);
        assert_input_error(&run, &format!("invalid --builder-cidr '{cidr}': {why}"));
    }
    let run = aws_app(&["deploy", "--builder", "somewhere", "--prefix", "ann"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn aws_commands_without_aws_settings_say_what_to_set() {
    for command in ["deploy", "status", "redeploy", "rollback", "logs"] {
        let run = aws_app(&[command, "--prefix", "ann"], &[]);
        assert_input_error(&run, "no AWS region: pass --region, set AWS_REGION");
    }
    let run = aws_app(&["destroy", "--yes", "--prefix", "ann"], &[("AWS_REGION", "us-east-1")]);
    assert_input_error(&run, "no AWS credentials found");
}

#[test]
fn usage_errors_exit_2() {
    let run = aws_app(&["build", "--port", "80"], &[]);
    assert_eq!(run.code, 2, "--port needs --run: {run:?}");
    let run = aws_app(&["frobnicate"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
}

/// `aws-app.sh` maps its short forms onto subcommands (run with the binary under test).
fn script(args: &[&str], env: &[(&str, &str)]) -> Run {
    let script = repo_root().join("aws-app.sh");
    let script = script.to_str().expect("utf-8 path");
    let mut all = vec!["/bin/bash", script];
    all.extend_from_slice(args);
    let mut env = env.to_vec();
    env.push(("AWS_APP_BIN", BIN));
    run_command(&all, &env)
}

#[test]
fn aws_app_sh_maps_short_forms_onto_subcommands() {
    // No arguments, or options only: deploy (which, with no AWS settings at all, stops at the
    // missing region before anything else).
    let run = script(&[], &[("AWS_APP_PREFIX", "ann")]);
    assert_input_error(&run, "no AWS region");
    let run = script(&["--prefix", "ann"], &[]);
    assert_input_error(&run, "no AWS region");
    // --local anywhere: build --run (--port is only accepted with --run).
    let run = script(&["--prefix", "ann", "--local", "--port", "0"], &[]);
    assert_input_error(&run, "--port must be between 1 and 65535");
    let run = script(&["build", "--local", "--port", "0", "--prefix", "ann"], &[]);
    assert_input_error(&run, "--port must be between 1 and 65535");
    // A subcommand, first or after options (and their values): passed through as is.
    let run = script(&["logs", "--json", "--prefix", "ann", "--since", "soon"], &[]);
    assert_input_error(&run, "invalid --since 'soon'");
    let run = script(&["--prefix", "ann", "--branch", "main", "logs", "--since", "soon"], &[]);
    assert_input_error(&run, "invalid --since 'soon'");
    let run = script(&["--prefix=Bad!", "destroy", "--local"], &[]);
    assert_input_error(&run, "invalid prefix 'bad!'");
    // Every option's value is a value, not the subcommand.
    for option in ["--cpu", "--memory", "--count", "--keep-images", "--builder-cidr"] {
        let run = script(&["--prefix", "ann", option, "7", "logs", "--since", "soon"], &[]);
        assert_eq!(run.code, 2, "{option}: {run:?}");
        assert!(!run.stderr.contains("unrecognized subcommand"), "{option}: {run:?}");
    }
    let run = script(&["--builder", "ec2", "--builder-cidr", "0.0.0.0/0", "--prefix", "ann"], &[]);
    assert_input_error(&run, "invalid --builder-cidr '0.0.0.0/0'");
    // A value option before --local: its value is no subcommand either.
    for option in ["--cpu", "--memory", "--count", "--keep-images"] {
        let run = script(&["--prefix", "ann", option, "2", "--local", "--port", "0"], &[]);
        assert_input_error(&run, "--port must be between 1 and 65535");
    }
    // Huge numbers are bad input, not a panic.
    for (sub, option) in [("logs", "--since"), ("watch", "--interval")] {
        let run = script(&[sub, "--prefix", "ann", option, "99999999999999999999999d"], &[]);
        assert_eq!(run.code, 2, "{run:?}");
        let run = script(&[sub, "--prefix", "ann", option, "18446744073709551615s"], &[]);
        assert_input_error(&run, "more than ten years");
    }
}

#[test]
fn aws_app_sh_knows_every_option_of_the_binary_that_takes_a_value() {
    let script = std::fs::read_to_string(repo_root().join("aws-app.sh")).expect("aws-app.sh");
    let line = script.lines().find(|l| l.starts_with("value_options=")).expect("value_options");
    let commands =
        ["deploy", "build", "redeploy", "watch", "status", "logs", "rollback", "destroy"];
    let mut seen = 0;
    for command in commands {
        let help = aws_app(&[command, "--help"], &[]);
        assert_eq!(help.code, 0, "{help:?}");
        for word in help.stdout.lines().filter_map(|l| {
            let l = l.trim_start();
            let (option, rest) = l.split_once(' ').unwrap_or((l, ""));
            (option.starts_with("--") && rest.starts_with('<'))
                .then(|| option.trim_end_matches(','))
        }) {
            seen += 1;
            assert!(line.contains(&format!(" {word} ")), "aws-app.sh's value_options lacks {word}");
        }
    }
    assert!(seen > 10, "the help lists the value options");
}

#[test]
fn aws_app_sh_without_cargo_or_docker_says_what_to_install() {
    let empty = tempfile::tempdir().expect("tempdir");
    let path = empty.path().to_str().expect("utf-8");
    let script = repo_root().join("aws-app.sh");
    let run = run_command(&["/bin/bash", script.to_str().expect("utf-8")], &[("PATH", path)]);
    assert_input_error(&run, "needs Rust (cargo, https://rustup.rs) or Docker");
}

#[test]
fn requirements_the_build_cannot_see_are_refused_before_building() {
    let mut fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("badreqs");
    let url = fixture.url();
    fixture.write("requirements.txt", "-r base.txt\ngunicorn==20.1.0\n");
    fixture.write("base.txt", "flask==2.0.2\n");
    fixture.commit("Split the requirements");
    let run = aws_app(&["build", "--repo", &url, "--prefix", prefix.as_str()], &build_env());
    assert_input_error(&run, "`-r base.txt` includes another requirements file");

    std::fs::remove_file(fixture.path().join("requirements.txt")).expect("rm");
    fixture.commit("No requirements at all");
    let run = aws_app(&["build", "--repo", &url, "--prefix", prefix.as_str()], &build_env());
    assert_input_error(&run, "has no requirements.txt");
}
