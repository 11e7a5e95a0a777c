//! The source step over git's smart HTTP protocol (as from a hosting service; depth-1 fetch),
//! against `git http-backend`.

use crate::support::*;

#[test]
fn builds_the_branch_head_fetched_over_http() {
    let mut fixture = Fixture::new(APP_PY);
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello over HTTP!"));
    let head = fixture.commit("Second commit: only HEAD is fetched");
    let server = GitHttp::serve(&fixture);
    let prefix = Prefix::new("http");
    let run = aws_app(
        &[
            "build",
            "--json",
            "--expect",
            "Hello over HTTP!",
            "--repo",
            &server.url,
            "--prefix",
            prefix.as_str(),
        ],
        &build_env(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["commit"], head);
    let image = run.json()["image"].as_str().expect("image").to_string();
    assert!(image.starts_with(&format!("{}-aws-app:{head}-", prefix.as_str())), "{image}");
}

#[test]
fn unknown_branch_over_http_lists_the_branches() {
    let mut fixture = Fixture::new(APP_PY);
    fixture.branch("feature/x");
    let server = GitHttp::serve(&fixture);
    let run =
        aws_app(&["build", "--repo", &server.url, "--branch", "release", "--prefix", "ann"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.last_stderr_line().contains("branch 'release' not found"), "{run:?}");
    assert!(run.last_stderr_line().contains("its branches: feature/x, master"), "{run:?}");
}

#[test]
fn a_closed_port_is_an_unreachable_repository() {
    let url = format!("http://127.0.0.1:{}/app.git", free_port());
    let run = aws_app(&["build", "--repo", &url, "--prefix", "ann"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    let last = run.last_stderr_line();
    assert!(
        last.starts_with(&format!("aws-app: error: cannot read the repository {url}")),
        "{last}"
    );
    assert!(last.ends_with("check --repo and your network"), "{last}");
}
