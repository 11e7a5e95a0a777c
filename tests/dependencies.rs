//! Dependency resolution against real PyPI and the real engine: a commit made today of an app
//! whose pins are from 2021 boots, reuses the lock and the dependency layers without asking
//! anything, and the known vulnerabilities of its pins are reported; an app that pins nothing
//! resolves as of its requirements' last change, found in a shallow fetch's history.

use crate::support::*;

/// gunicorn 20.1.0's per-release document as PyPI's JSON API gives it (its advisories), for
/// the machines where pypi.org's per-release API is out of reach: served by `JsonServer` as a
/// mirror would serve it.
const GUNICORN_20_1_0: &str = include_str!("fixtures/pypi/gunicorn-20.1.0.json");

/// The line Docker prints right after a step it did not run.
fn step_was_cached(stderr: &str, step_text: &str) -> bool {
    let mut lines = stderr.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("Step ") && line.contains(step_text) {
            return lines.next().is_some_and(|next| next.trim() == "---> Using cache");
        }
    }
    false
}

#[test]
fn a_code_only_commit_made_today_reuses_the_lock_and_boots() {
    // requirements.txt of its own (a comment), so this test's first lock really runs.
    let mut fixture = Fixture::new(APP_PY);
    let requirements = format!("# lock test {}\n{REQUIREMENTS}", std::process::id());
    fixture.write("requirements.txt", &requirements);
    let first = fixture.commit("Requirements of its own");
    let prefix = Prefix::new("today");
    let url = fixture.url();
    let advisories =
        JsonServer::serve(vec![("/gunicorn/20.1.0/json".to_string(), GUNICORN_20_1_0.to_string())]);
    let mut env: Vec<(&str, &str)> = build_env().to_vec();
    env.push(("AWS_APP_ADVISORY_URL", &advisories.url));

    let built = aws_app(&["build", "--json", "--repo", &url, "--prefix", prefix.as_str()], &env);
    assert_eq!(built.code, 0, "{built:?}");
    let json = built.json();
    assert_eq!(json["commit"], first);
    let inputs = &json["inputs"];
    // The cut-off follows the pins (flask 2.0.2, uploaded 2021-10-04), not the commit.
    assert_eq!(inputs["resolution"], "pins", "{json}");
    assert!(
        inputs["resolved_as_of"].as_str().expect("cut-off").starts_with("2021-10-05T"),
        "{json}"
    );
    let pins: Vec<&str> =
        inputs["pins"].as_array().expect("pins").iter().filter_map(|p| p.as_str()).collect();
    assert!(pins.contains(&"flask==2.0.2") && pins.contains(&"gunicorn==20.1.0"), "{pins:?}");
    let major = |name: &str| -> u32 {
        let pin = pins.iter().find(|p| p.starts_with(&format!("{name}=="))).expect(name);
        pin.split("==").nth(1).and_then(|v| v.split('.').next()?.parse().ok()).expect("major")
    };
    assert_eq!(major("werkzeug"), 2, "Flask 2.0.2 imports what Werkzeug 3 removed: {pins:?}");
    assert!(major("setuptools") < 60, "gunicorn 20.1.0 imports pkg_resources: {pins:?}");

    // The known vulnerabilities of the resolved releases: a warning and data, pins unchanged.
    let vulns = json["vulnerabilities"].as_array().expect("vulnerabilities");
    let smuggling = vulns
        .iter()
        .find(|v| v["id"] == "GHSA-w3h3-4rj7-4ph4")
        .unwrap_or_else(|| panic!("gunicorn's advisory is listed: {json}"));
    assert_eq!(
        (smuggling["package"].as_str(), smuggling["version"].as_str()),
        (Some("gunicorn"), Some("20.1.0"))
    );
    assert_eq!(smuggling["fixed_in"][0], "22.0.0");
    assert_eq!(smuggling["aliases"][0], "CVE-2024-1135");
    assert!(
        built
            .stderr
            .contains("gunicorn 20.1.0: GHSA-hc5x-x2vx-497g (CVE-2024-6827; fixed in 23.0.0)")
            || built.stderr.contains("GHSA-w3h3-4rj7-4ph4 (CVE-2024-1135; fixed in 22.0.0)"),
        "{built:?}"
    );
    assert!(built.stderr.contains("known vulnerabilities in 1 resolved release"), "{built:?}");
    // The lock asked the advisory source once per resolved release.
    let asked = advisories.requests();
    assert_eq!(asked.len(), pins.len(), "{asked:?}");

    // A commit made today that changes only code.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello today!"));
    let second = fixture.commit_now("Change the greeting today");
    let port = free_port().to_string();
    let today = aws_app(
        &["build", "--run", "--port", &port, "--json", "--repo", &url, "--prefix", prefix.as_str()],
        &env,
    );
    assert_eq!(today.code, 0, "it boots: {today:?}");
    let (status, body) = http_get(&format!("http://localhost:{port}/"));
    assert_eq!((status, body.contains("Hello today!")), (200, true), "{body}");
    let json2 = today.json();
    assert_eq!(json2["commit"], second);
    assert_eq!(json2["inputs"]["pins"], inputs["pins"], "the same pins");
    assert_eq!(json2["inputs"]["resolved_as_of"], inputs["resolved_as_of"]);
    assert_eq!(json2["vulnerabilities"], json["vulnerabilities"], "the lock's report, kept");
    // The lock stage did not run: Docker used its cache, the lock printed nothing, and the
    // advisory source heard nothing more.
    assert!(step_was_cached(&today.stderr, "RUN /opt/pip/bin/python /lock/lock.py"), "{today:?}");
    assert!(!today.stderr.contains("aws-app lock: resolving"), "{today:?}");
    assert_eq!(advisories.requests().len(), asked.len(), "no request: {:?}", advisories.requests());
    // Every layer but the app's is reused.
    let (a, b) = (
        layers(json["image"].as_str().expect("image")),
        layers(json2["image"].as_str().expect("image")),
    );
    assert_eq!(a.len(), b.len());
    assert_eq!(a[..a.len() - 1], b[..b.len() - 1], "base and dependency layers are reused");
    assert_ne!(a.last(), b.last());
    // Same inputs, same key: the tag differs by the commit only.
    let (k1, k2) = (
        tag_parts(json["image"].as_str().expect("image")).1,
        tag_parts(json2["image"].as_str().expect("image")).1,
    );
    assert_eq!(k1, k2, "same base, recipe and pins: same key");
}

#[test]
fn requirements_without_pins_resolve_as_of_their_last_change() {
    // No exact pin: the cut-off is when requirements.txt last changed, read from the history
    // (more commits after it than the first shallow fetch holds, so the fetch deepens).
    let mut fixture = Fixture::new(APP_PY);
    fixture.write("requirements.txt", "Flask<2.1\ngunicorn\n");
    fixture.commit("Unpinned requirements");
    for i in 0..20 {
        fixture.commit(&format!("Unrelated change {i}"));
    }
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello unpinned!"));
    let head = fixture.commit_now("A code change today");
    let server = GitHttp::serve(&fixture);
    let prefix = Prefix::new("unpinned");
    let run = aws_app(
        &[
            "build",
            "--json",
            "--expect",
            "Hello unpinned!",
            "--repo",
            &server.url,
            "--prefix",
            prefix.as_str(),
        ],
        &build_env(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("requirements.txt last changed before the 16 commits fetched"),
        "the shallow fetch deepened: {run:?}"
    );
    let json = run.json();
    assert_eq!(json["commit"], head);
    assert_eq!(json["inputs"]["resolution"], "requirements-commit", "{json}");
    assert_eq!(json["inputs"]["resolved_as_of"], "2021-11-17T10:00:00Z", "{json}");
    let pins = json["inputs"]["pins"].to_string();
    assert!(pins.contains("flask==2.0.2") && pins.contains("gunicorn==20.1.0"), "{pins}");
}

#[test]
fn a_commit_made_today_redeploys_and_a_new_base_image_rebuilds_the_same_commit() {
    let Scenario { env, moto, mut fixture, prefix, url } = Scenario::new("inputs");
    let p = prefix.as_str();
    let family = format!("{p}-aws-app");
    let revisions = || {
        moto.run(async {
            let listed = moto
                .ecs
                .list_task_definitions()
                .family_prefix(&family)
                .send()
                .await
                .expect("revisions");
            listed.task_definition_arns().len()
        })
    };
    let run = |args: &[&str], base: &str| {
        let mut argv = args.to_vec();
        argv.extend(["--json", "--repo", &url, "--prefix", p]);
        env.aws_app_with(&argv, &[("AWS_APP_BASE_IMAGE", base)])
    };

    // The first commit (2021) deploys and serves.
    let first = run(&["deploy"], base_image());
    assert_eq!(first.code, 0, "{first:?}");
    let site = first.json()["url"].as_str().expect("url").to_string();
    assert_eq!(env.get(&site).0, 200);
    let first_key = first.json()["inputs"]["key"].clone();
    assert_eq!(first.json()["inputs"]["base_image"], base_image());

    // A commit made today that changes only code: redeploy builds it, it boots, it serves.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello from today!"));
    let today = fixture.commit_now("Change the greeting today");
    let redeployed = run(&["redeploy"], base_image());
    assert_eq!(redeployed.code, 0, "{redeployed:?}");
    assert_eq!(redeployed.json()["commit"], today);
    assert_eq!(redeployed.json()["inputs"]["key"], first_key, "same inputs, same key");
    assert!(env.get(&site).1.contains("Hello from today!"));
    assert_eq!(revisions(), 2);

    // Another base image: the same commit is built again, with another key, and rolled out.
    let variant = variant_base_image();
    let same = run(&["redeploy"], base_image());
    assert!(same.stderr.contains("up to date"), "{same:?}");
    let rebased = run(&["redeploy"], variant);
    assert_eq!(rebased.code, 0, "{rebased:?}");
    assert!(rebased.stderr.contains("built from other inputs"), "{rebased:?}");
    assert!(rebased.stderr.contains("Step 1/"), "built again: {rebased:?}");
    let json = rebased.json();
    assert_eq!(json["commit"], today);
    assert_eq!(json["changed"], true);
    assert_ne!(json["inputs"]["key"], first_key, "a new base, a new key");
    assert_eq!(json["inputs"]["base_image"], variant);
    let image = json["image"].as_str().expect("image");
    assert_ne!(image, redeployed.json()["image"].as_str().expect("image"));
    assert_eq!(revisions(), 3);
    assert!(env.get(&site).1.contains("Hello from today!"));

    // The same base again: nothing to build, nothing changes.
    let again = run(&["deploy"], variant);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["changed"], false, "{again:?}");
    assert!(again.stderr.contains("nothing to build"), "{again:?}");
    assert!(!again.stderr.contains("Step 1/"), "{again:?}");

    // --rebuild builds on purpose; the inputs are the same, so the registry's image stays.
    let rebuilt = run(&["deploy", "--rebuild"], variant);
    assert_eq!(rebuilt.code, 0, "{rebuilt:?}");
    assert!(rebuilt.stderr.contains("Step 1/"), "{rebuilt:?}");
    assert!(rebuilt.stderr.contains("aws-app lock: resolving"), "the lock ran again: {rebuilt:?}");
    assert!(rebuilt.stderr.contains("nothing pushed"), "{rebuilt:?}");
    assert_eq!(rebuilt.json()["image"], json["image"]);
    assert_eq!(revisions(), 3);

    // status shows what the running image was built from.
    let status = run(&["status"], variant);
    assert_eq!(status.code, 0, "{status:?}");
    let s = status.json();
    assert_eq!(s["commit"], today);
    assert_eq!(s["inputs"]["base_image"], variant);
    assert_eq!(s["inputs"]["key"], json["inputs"]["key"]);
    assert!(s["inputs"]["base_image_id"].as_str().expect("id").starts_with("sha256:"));
    assert_eq!(s["inputs"]["recipe"].as_str().map(str::len), Some(12));
    assert!(s["inputs"]["pins"].to_string().contains("gunicorn==20.1.0"), "{s}");
    assert_eq!(s["inputs"]["resolution"], "pins");
    // This network does not reach PyPI's per-release API: the advisories are unchecked (null),
    // which status must not show as "no vulnerabilities".
    assert!(s["vulnerabilities"].is_null() || s["vulnerabilities"].is_u64(), "{s}");
    if s["vulnerabilities"].is_null() {
        assert!(s["advisories_unchecked"].is_null(), "{s}");
    }
    assert!(s["scan"].is_object() || s["scan"].is_null(), "{s}");

    // Failures keep what runs: nothing pushed, no revision, the URL serves the previous build,
    // and the error shows what went wrong in the app's own words.
    let tags = || registry_get(ECR_HOST, &format!("/v2/{p}-aws-app/tags/list")).1;
    let tags_before = tags();
    fixture.write("requirements.txt", &format!("{REQUIREMENTS}aws-app-no-such-package==1.0\n"));
    let bad_pin = fixture.commit_now("Require a package that does not exist");
    let failed = run(&["redeploy"], variant);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        failed.stderr.contains("No matching distribution found for aws-app-no-such-package"),
        "{failed:?}"
    );
    fixture.write("requirements.txt", REQUIREMENTS);
    fixture.write("app.py", &APP_PY.replace("import os\n", "import os\nimport no_such_module\n"));
    let bad_import = fixture.commit_now("Import a module that does not exist");
    let crashed = run(&["redeploy"], variant);
    assert_eq!(crashed.code, 1, "{crashed:?}");
    assert!(
        crashed.stderr.contains("ModuleNotFoundError: No module named 'no_such_module'"),
        "{crashed:?}"
    );
    assert!(crashed.last_stderr_line().contains("the app exited"), "{crashed:?}");
    assert_eq!(revisions(), 3, "no revision for a failed build");
    assert_eq!(tags(), tags_before, "nothing pushed");
    assert!(!tags().contains(&bad_pin) && !tags().contains(&bad_import));
    assert!(env.get(&site).1.contains("Hello from today!"), "the previous build still serves");
}

#[test]
fn editing_requirements_today_keeps_old_pins_unless_a_new_project_needs_more() {
    let mut fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("edited");
    let url = fixture.url();
    let build = || {
        let run = aws_app(
            &["build", "--json", "--repo", &url, "--prefix", prefix.as_str()],
            &build_env(),
        );
        assert_eq!(run.code, 0, "{run:?}");
        run.json()["inputs"].clone()
    };
    let before = build();

    // Today: a comment and a requirement on a project that existed then. Same cut-off, same pins.
    fixture.write(
        "requirements.txt",
        &format!("# edited today\n{REQUIREMENTS}itsdangerous  # no pin\n"),
    );
    fixture.commit_now("Edit requirements today");
    let edited = build();
    assert_eq!(edited["resolved_as_of"], before["resolved_as_of"], "{edited}");
    assert_eq!(edited["pins"], before["pins"], "{edited}");

    // A project first released after the pins: the cut-off moves to its first release, no
    // further (annotated-types 0.1.0 was uploaded on 2022-05-02), and the app still boots.
    fixture.write("requirements.txt", &format!("{REQUIREMENTS}annotated-types\n"));
    fixture.commit_now("Require a project newer than the pins");
    let newer = build();
    assert_eq!(newer["resolution"], "pins");
    assert!(
        newer["resolved_as_of"].as_str().expect("cut-off").starts_with("2022-05-03T"),
        "{newer}"
    );
    let pins = newer["pins"].to_string();
    assert!(pins.contains("annotated-types==0.1.0") && pins.contains("flask==2.0.2"), "{pins}");
    // What was there stays as the pins resolved it: only the new project comes in.
    let mut expected: Vec<serde_json::Value> = before["pins"].as_array().expect("pins").clone();
    expected.push("annotated-types==0.1.0".into());
    expected.sort_by_key(|p| p.as_str().unwrap_or_default().to_string());
    assert_eq!(newer["pins"], serde_json::Value::Array(expected), "{newer}");
}
