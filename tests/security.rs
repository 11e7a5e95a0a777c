//! Safe in a shared account (issue 11): credentials of a private app repository never leak;
//! a hostile app repository is contained; the deploy lock holds.

use crate::support::*;

/// Everything a run leaves that could hold a secret: the files under `dir`, recursively.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                todo.push(entry.path());
            }
        } else if meta.is_file()
            && std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// What AWS keeps of the prefix's deployment that a token could have slipped into: the task
/// definition (with its tags), and the tags of the service, cluster, repository, load balancer.
fn aws_records(moto: &Moto, p: &str) -> String {
    let td = moto.service_task_definition(p);
    moto.run(async {
        let described = moto
            .ecs
            .describe_task_definition()
            .task_definition(&td)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .expect("task definition");
        let service = moto
            .ecs
            .describe_services()
            .cluster(format!("{p}-aws-app"))
            .services(format!("{p}-aws-app"))
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .expect("service");
        let repo = moto
            .ecr
            .describe_repositories()
            .repository_names(format!("{p}-aws-app"))
            .send()
            .await
            .expect("repository");
        let arn = repo.repositories()[0].repository_arn().expect("arn").to_string();
        let repo_tags =
            moto.ecr.list_tags_for_resource().resource_arn(arn).send().await.expect("tags");
        let lbs = moto
            .elb
            .describe_load_balancers()
            .names(format!("{p}-aws-app"))
            .send()
            .await
            .expect("load balancer");
        let lb = lbs.load_balancers()[0].load_balancer_arn().expect("arn").to_string();
        let lb_tags =
            moto.elb.describe_tags().resource_arns(lb).send().await.expect("load balancer tags");
        format!("{described:?}\n{service:?}\n{repo_tags:?}\n{lb_tags:?}")
    })
}

/// Everything of the prefix that AWS still has (`lifecycle::leftovers`), and its lock item.
fn leftovers(env: &AwsEnv, moto: &Moto, p: &str) -> Vec<String> {
    let mut left = crate::lifecycle::leftovers(env, moto, p);
    let item = moto.run(async {
        moto.dynamodb
            .get_item()
            .table_name("aws-app-locks")
            .key("prefix", aws_sdk_dynamodb::types::AttributeValue::S(p.to_string()))
            .consistent_read(true)
            .send()
            .await
            .expect("lock item")
    });
    if item.item.is_some() {
        left.push("lock".to_string());
    }
    left
}

#[test]
fn four_deploys_and_a_destroy_at_once_hold_the_lock_one_at_a_time() {
    let Scenario { env, moto, fixture: _fixture, prefix, url } = Scenario::new("lockrace");
    let p = prefix.as_str();
    let start = std::sync::Barrier::new(5);
    let runs: Vec<Run> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for i in 0..5 {
            let (start, url) = (&start, &url);
            handles.push(s.spawn(move || {
                start.wait();
                if i == 2 {
                    env.aws_app(&["destroy", "--yes", "--prefix", p])
                } else {
                    env.aws_app(&["deploy", "--repo", url, "--prefix", p])
                }
            }));
        }
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    for run in &runs {
        assert_eq!(run.code, 0, "every run ends cleanly: {run:?}");
    }
    let waited =
        runs.iter().filter(|r| r.stderr.contains("holds the deploy lock of prefix")).count();
    assert!(waited >= 3, "the runs took turns: {runs:?}");

    // AWS's record of the lock: five acquisitions, each released before the next, renewals by
    // the holder only, nothing taken over.
    let events = env.lock_events(p);
    let mut holding: Option<String> = None;
    for (what, holder) in &events {
        match what.as_str() {
            "acquire" => {
                assert_eq!(holding, None, "acquired while held: {events:?}");
                holding = Some(holder.clone());
            }
            "renew" => assert_eq!(holding.as_ref(), Some(holder), "{events:?}"),
            "release" => assert_eq!(holding.take().as_ref(), Some(holder), "{events:?}"),
            other => panic!("{other} in {events:?}"),
        }
    }
    assert_eq!(holding, None, "released at the end: {events:?}");
    assert_eq!(events.iter().filter(|(w, _)| w == "acquire").count(), 5, "{events:?}");

    // Nothing doubled and nothing orphaned: what runs is one of each; a destroy leaves nothing.
    let status = env.aws_app(&["status", "--json", "--prefix", p]);
    if status.code == 0 {
        crate::deploy::assert_one_of_each_but_revisions(&moto, p, 1);
    }
    let destroyed = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new());
}

#[test]
fn a_run_whose_lease_was_taken_over_stops_before_its_next_write() {
    let Scenario { env, moto, mut fixture, prefix, url } = Scenario::new("takeover");
    let p = prefix.as_str();
    let first = fixture.head();

    // A deploy of the first commit, stopped (SIGSTOP: it cannot renew) once it built.
    let mut stalled = Spawned::start(env.command(&["deploy", "--repo", &url, "--prefix", p], &[]));
    stalled.wait_for_start("aws-app: built ");
    stalled.signal("-STOP");
    let before = stalled.seen.len();

    // Another deploy, of a newer commit, takes the lock over once it was not renewed for the
    // lease, and deploys.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello, successor!"));
    let second = fixture.commit("The successor's commit");
    let successor = env.aws_app(&["deploy", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(successor.code, 0, "{successor:?}");
    assert!(successor.stderr.contains("took over the deploy lock of prefix"), "{successor:?}");
    let site = successor.json()["url"].as_str().expect("url").to_string();

    // The stalled run, let go, stops before it writes anything more.
    stalled.signal("-CONT");
    let (code, seen) = stalled.finish();
    let rest = &seen[before..];
    assert_eq!(code, Some(1), "{seen}");
    assert!(rest.contains(&format!("lost the deploy lock of prefix {p} before ")), "{rest}");
    assert!(!rest.contains("pushed ") && !rest.contains("registered "), "{rest}");
    assert!(env.get(&site).1.contains("Hello, successor!"));
    let status = env.aws_app(&["status", "--json", "--prefix", p]);
    assert_eq!(status.json()["commit"], second);
    crate::deploy::assert_one_of_each_but_revisions(&moto, p, 1);
    let images = moto.run(async {
        let out = moto.ecr.describe_images().repository_name(format!("{p}-aws-app")).send().await;
        format!("{:?}", out.expect("images").image_details())
    });
    assert!(!images.contains(&first[..12]), "the stalled run pushed nothing: {images}");

    let events = env.lock_events(p);
    let kinds: Vec<&str> =
        events.iter().map(|(w, _)| w.as_str()).filter(|w| *w != "renew").collect();
    assert_eq!(kinds, ["acquire", "take over", "release"], "{events:?}");
    let taken = events.iter().position(|(w, _)| w == "take over").expect("take over");
    let stalled_holder = &events[0].1;
    assert!(
        events[taken..].iter().all(|(_, h)| h != stalled_holder),
        "no write of the stalled run after the take-over: {events:?}"
    );
    assert_eq!(env.aws_app(&["destroy", "--yes", "--prefix", p]).code, 0);
}

#[test]
fn a_private_repository_deploys_and_its_token_appears_nowhere() {
    let env = aws_env();
    let moto = env.clients();
    let mut fixture = Fixture::new(APP_PY);
    let token = format!("tok{}S3cretValue", std::process::id());
    let login = format!("ann:{token}");
    let server = GitHttp::serve_private(&fixture, Some(&login));
    let clean = server.url.clone();
    let with_token = clean.replacen("http://", &format!("http://{login}@"), 1);
    let prefix = Prefix::new("private");
    let p = prefix.as_str();
    let tmp = tempfile::tempdir().expect("temp dir");
    let tmpdir = tmp.path().to_str().expect("utf-8").to_string();
    // No credential helper of this machine's user answers for the test server.
    let home = tempfile::tempdir().expect("home");
    let home_dir = home.path().to_str().expect("utf-8").to_string();
    let isolated = [("TMPDIR", tmpdir.as_str()), ("HOME", home_dir.as_str())];

    // Without credentials: exit 2, one line naming the ways to give them.
    let refused = env.aws_app_with(&["deploy", "--repo", &clean, "--prefix", p], &isolated);
    assert_eq!(refused.code, 2, "{refused:?}");
    let last = refused.last_stderr_line();
    assert!(last.contains(&format!("the repository {clean} asks for credentials")), "{last}");
    assert!(last.contains("AWS_APP_GIT_TOKEN") && last.contains("credential helper"), "{last}");

    // The token inside --repo: the deploy works, and nothing it shows or stores has it.
    let run =
        env.aws_app_with(&["deploy", "--json", "--repo", &with_token, "--prefix", p], &isolated);
    assert_eq!(run.code, 0, "{run:?}");
    let url = run.json()["url"].as_str().expect("url").to_string();
    assert!(env.get(&url).1.contains("Hello World!"));
    let image = run.json()["image"].as_str().expect("image").to_string();
    let check = |what: &str, text: &str| {
        assert!(!text.contains(&token), "the token is in {what}: {text}");
        assert!(!text.contains("ann:"), "the user-info is in {what}: {text}");
    };
    check("stdout", &run.stdout);
    check("stderr", &run.stderr);
    let inspect = docker(&["image", "inspect", &image]);
    check("the image's config", &inspect);
    assert!(
        inspect.contains(&format!("\"org.opencontainers.image.source\": \"{clean}\"")),
        "{inspect}"
    );
    check("the image's history", &docker(&["history", "--no-trunc", &image]));
    check("AWS's records", &aws_records(&moto, p));
    assert_eq!(files_containing(tmp.path(), &token), Vec::<String>::new());

    // The token in AWS_APP_GIT_TOKEN (the user in AWS_APP_GIT_USER): a new commit deploys.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello private!"));
    fixture.commit("Second commit");
    let vars = [
        isolated[0],
        isolated[1],
        ("AWS_APP_GIT_TOKEN", token.as_str()),
        ("AWS_APP_GIT_USER", "ann"),
    ];
    let again = env.aws_app_with(&["deploy", "--repo", &clean, "--prefix", p], &vars);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(env.get(&url).1.contains("Hello private!"));
    check("stdout", &again.stdout);
    check("stderr", &again.stderr);
    check("AWS's records", &aws_records(&moto, p));
    assert_eq!(files_containing(tmp.path(), &token), Vec::<String>::new());

    // A wrong token is refused as missing credentials are, without echoing it.
    let wrong = [isolated[0], isolated[1], ("AWS_APP_GIT_TOKEN", "not-the-token")];
    let bad = aws_app(&["build", "--repo", &clean, "--prefix", p], &wrong);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.last_stderr_line().contains("asks for credentials"), "{bad:?}");
    assert!(!bad.stderr.contains("not-the-token"), "{bad:?}");

    // git's credential helper (here a shell one in the user's ~/.gitconfig).
    std::fs::write(
        home.path().join(".gitconfig"),
        format!(
            "[credential]\n\thelper = \"!f() {{ echo username=ann; echo password={token}; }}; f\"\n"
        ),
    )
    .expect("gitconfig");
    let helped = aws_app(
        &["build", "--repo", &clean, "--prefix", p],
        &[isolated[0], isolated[1], build_env()[0]],
    );
    assert_eq!(helped.code, 0, "{helped:?}");
    check("stderr", &helped.stderr);

    let destroyed = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
}

/// An app whose page says what its container may do, and which writes terminal escapes (a new
/// window title, a screen clear) to its log at import.
const INSPECTING_APP: &str = r#"import os
import sys

from flask import Flask

sys.stdout.write("\x1b]0;owned\x07\x1b[2Jescaped-log-line\n")
sys.stdout.flush()
if os.environ.get("FAIL_AT_IMPORT", "") or os.path.exists("/app/fail"):
    raise SystemExit("failing \x1b[31mon purpose\x1b[0m")

app = Flask(__name__)


def first(*paths):
    for path in paths:
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            pass
    return "?"


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    return "?"


@app.route("/")
def index():
    return "nnp={} cap={} mem={} pids={}\n".format(
        status("NoNewPrivs"),
        status("CapEff"),
        first("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        first("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"),
    )
"#;

#[test]
fn a_hostile_app_repository_is_contained() {
    let mut fixture = Fixture::new(INSPECTING_APP);
    let prefix = Prefix::new("hostile");
    let p = prefix.as_str();
    let url = fixture.url();
    let build = |extra: &[&str]| {
        let args = [&["build", "--repo", &url, "--prefix", p][..], extra].concat();
        aws_app(&args, &build_env())
    };

    // The smoke test runs the app without privileges to gain, without capabilities, bounded
    // in memory (1 GiB) and processes (512): --expect checks what the app saw.
    let smoke = build(&["--expect", "nnp=1 cap=0000000000000000 mem=1073741824 pids=512"]);
    assert_eq!(smoke.code, 0, "{smoke:?}");
    // The --local container (no bounds: it is the operator's to keep) gains nothing either.
    let port = free_port().to_string();
    let local = build(&["--run", "--port", &port]);
    assert_eq!(local.code, 0, "{local:?}");
    let (_, page) = http_get(local.last_stdout_line());
    assert!(page.starts_with("nnp=1 cap=0000000000000000 "), "{page}");
    assert_eq!(aws_app(&["destroy", "--local", "--prefix", p], &[]).code, 0);

    // What the app writes is shown with its control characters escaped: its log, in the
    // failure's detail, and its exit message in the error line.
    fixture.write("fail", "");
    fixture.commit("Fail at import");
    let failed = build(&[]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(failed.stderr.contains("\\x1b]0;owned\\x07\\x1b[2Jescaped-log-line"), "{failed:?}");
    assert!(failed.stderr.contains("failing \\x1b[31mon purpose"), "{failed:?}");
    assert!(!failed.stderr.contains('\x1b') && !failed.stderr.contains('\x07'), "{failed:?}");
    std::fs::remove_file(fixture.path().join("fail")).expect("rm");

    // A .dockerignore that is a link: to a file of the operator's (whose text must not be
    // echoed), or to /dev/zero (which must not be read): exit 2 before anything is built.
    let outside = tempfile::tempdir().expect("temp dir");
    let secret = outside.path().join("credentials");
    std::fs::write(&secret, "aws_secret_access_key = operator-s3cret\n").expect("write");
    for target in [secret.as_path(), std::path::Path::new("/dev/zero")] {
        let link = fixture.path().join(".dockerignore");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, &link).expect("link");
        fixture.commit("A .dockerignore that is a link");
        let refused = build(&[]);
        assert_eq!(refused.code, 2, "{refused:?}");
        let last = refused.last_stderr_line();
        assert!(last.contains("the app's .dockerignore is not a regular file"), "{last}");
        assert!(!refused.stderr.contains("operator-s3cret"), "{refused:?}");
        assert!(!refused.stderr.contains("Step 1/"), "nothing was built: {refused:?}");
    }
    // One far too large: refused unread.
    std::fs::remove_file(fixture.path().join(".dockerignore")).expect("rm");
    fixture.write(".dockerignore", &"#".repeat(2 << 20));
    fixture.commit("A huge .dockerignore");
    let huge = build(&[]);
    assert_eq!(huge.code, 2, "{huge:?}");
    assert!(huge.last_stderr_line().contains("aws-app reads at most 1048576"), "{huge:?}");
    assert!(containers_of(p).is_empty());
}

#[test]
fn resources_of_the_prefixs_names_without_its_tags_are_left_untouched_and_one_app_per_prefix() {
    let Scenario { env, moto, fixture: _fixture, prefix, url } = Scenario::new("notours");
    let p = prefix.as_str();
    // Someone else's target group, role and log group, named as the prefix's would be, made
    // a while ago (straight in moto: past IAM's lag the layer emulates for new roles).
    let (tg, role, group) =
        (format!("{p}-aws-app-tg"), format!("{p}-aws-app-task-execution"), format!("/aws-app/{p}"));
    let theirs = env.clients_direct("us-east-1");
    let moto_setup = &theirs;
    moto_setup.run(async {
        let moto = moto_setup;
        let vpcs = moto
            .ec2
            .describe_vpcs()
            .filters(aws_sdk_ec2::types::Filter::builder().name("is-default").values("true").build())
            .send()
            .await
            .expect("vpcs");
        let vpc = vpcs.vpcs()[0].vpc_id().expect("vpc").to_string();
        moto.elb
            .create_target_group()
            .name(&tg)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(8080)
            .vpc_id(vpc)
            .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
            .send()
            .await
            .expect("their target group");
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        moto.iam
            .create_role()
            .role_name(&role)
            .assume_role_policy_document(trust)
            .send()
            .await
            .expect("their role");
        moto.logs.create_log_group().log_group_name(&group).send().await.expect("their group");
    });
    let theirs_left = || {
        moto.run(async {
            let tg_left = moto.elb.describe_target_groups().names(&tg).send().await.is_ok();
            let role_left = moto.iam.get_role().role_name(&role).send().await.is_ok();
            let groups = moto.logs.describe_log_groups().log_group_name_prefix(&group).send();
            let group_left = !groups.await.expect("groups").log_groups().is_empty();
            (tg_left, role_left, group_left)
        })
    };

    // deploy refuses before writing anything, naming them and the ways out.
    let refused = env.aws_app(&["deploy", "--repo", &url, "--prefix", p]);
    assert_eq!(refused.code, 2, "{refused:?}");
    let last = refused.last_stderr_line();
    for name in [&tg, &role, &group] {
        assert!(last.contains(name.as_str()), "{name} named: {last}");
    }
    assert!(last.contains("--prefix") && last.contains("--adopt"), "{last}");
    assert!(
        crate::deploy::load_balancers(&moto, &format!("{p}-aws-app")).is_empty(),
        "nothing was made"
    );
    let theirs =
        vec![format!("target group {tg}"), "role".to_string(), format!("log group {group}")];
    assert_eq!(leftovers(env, &moto, p), theirs, "nothing of the prefix's was made");

    // destroy names the account and region, and leaves them alone.
    let destroy = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroy.code, 0, "{destroy:?}");
    assert!(
        destroy.stderr.contains("in AWS account 123456789012, region us-east-1"),
        "{destroy:?}"
    );
    assert!(
        destroy.stderr.contains(&format!("not this prefix's target group {tg}")),
        "{destroy:?}"
    );
    assert_eq!(theirs_left(), (true, true, true));

    // --adopt takes them over: tagged, used, and deleted by destroy.
    let adopted = env.aws_app(&["deploy", "--adopt", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(adopted.code, 0, "{adopted:?}");
    assert!(adopted.stderr.contains(&format!("--adopt: tagging target group {tg}")), "{adopted:?}");
    let site = adopted.json()["url"].as_str().expect("url").to_string();
    assert!(env.get(&site).1.contains("Hello World!"));

    // Another app under the same prefix is refused, unless --replace-app.
    let other = Fixture::new(&APP_PY.replace("Hello World!", "Hello from the other app!"));
    let other_url = other.url();
    let second = env.aws_app(&["deploy", "--repo", &other_url, "--prefix", p]);
    assert_eq!(second.code, 2, "{second:?}");
    let last = second.last_stderr_line();
    assert!(last.contains(&format!("prefix {p} runs the app of {url}")), "{last}");
    assert!(last.contains("--replace-app"), "{last}");
    assert!(env.get(&site).1.contains("Hello World!"), "the first app still serves");
    let replaced = env.aws_app(&["deploy", "--replace-app", "--repo", &other_url, "--prefix", p]);
    assert_eq!(replaced.code, 0, "{replaced:?}");
    assert!(env.get(&site).1.contains("Hello from the other app!"));

    let gone = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(gone.code, 0, "{gone:?}");
    assert_eq!(theirs_left(), (false, false, false), "adopted, so deleted: {gone:?}");
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new());
}

#[test]
fn an_interrupt_while_the_url_is_verified_says_so_and_exits_130() {
    // A page that differs on every request never matches the one the smoke test saw: deploy
    // waits at the verification of the URL until it is stopped.
    let env = aws_env();
    let fixture = Fixture::new(&APP_PY.replace("os.getcwd()", "__import__('time').time_ns()"));
    let prefix = Prefix::new("verifyint");
    let p = prefix.as_str();
    let args = ["deploy", "--repo", &fixture.url(), "--prefix", p];
    let (code, seen) = env.signal_at(&args, "aws-app: waiting for http://", "-INT");
    assert_eq!(code, 130, "{seen}");
    let last = seen.lines().last().unwrap_or_default();
    assert!(last.contains("stopped by SIGINT"), "{seen}");
    assert!(!seen.contains("did not serve"), "{seen}");
    // The lock was released: the next command of the prefix does not wait for it.
    let destroyed = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
    assert!(!destroyed.stderr.contains("waiting for the lock"), "{destroyed:?}");
}

#[test]
fn an_aws_endpoint_that_accepts_and_never_answers_ends_the_run_with_an_error() {
    // A half-open connection: the endpoint takes the TCP connection and never answers. The
    // SDK's attempt and operation timeouts end the call; the run does not hang.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let env = aws_env();
    let started = std::time::Instant::now();
    let run =
        env.aws_app_with(&["status", "--prefix", "blackhole"], &[("AWS_ENDPOINT_URL", &endpoint)]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.last_stderr_line().contains("timed out"), "{run:?}");
    // Bounded by the operation timeout (2 min), with room for a slow machine.
    assert!(took < std::time::Duration::from_secs(200), "took {took:?}: {run:?}");
}

/// docs/iam-policy.json for prefix `p`, as the statements of its two managed policies (the
/// split docs/iam-policy.md gives: AWS allows 6,144 characters a policy).
fn documented_policy(p: &str) -> (serde_json::Value, [serde_json::Value; 3]) {
    let text = std::fs::read_to_string(repo_root().join("docs/iam-policy.json")).expect("policy");
    let doc: serde_json::Value =
        serde_json::from_str(&text.replace("PREFIX", p)).expect("docs/iam-policy.json is JSON");
    // As docs/iam-policy.md splits it: by the Sid's first word.
    let groups: [&[&str]; 2] =
        [&["Ecr", "Ecs", "Elb", "Logs", "DynamoDb", "Sts", "Autoscaling"], &["Secrets", "Domain"]];
    let part_of = |s: &serde_json::Value| {
        let sid = s["Sid"].as_str().expect("every statement has a Sid");
        groups.iter().position(|g| g.iter().any(|x| sid.starts_with(x))).unwrap_or(2)
    };
    let statements = doc["Statement"].as_array().expect("statements").clone();
    let part = |n: usize| {
        let chosen: Vec<_> = statements.iter().filter(|s| part_of(s) == n).cloned().collect();
        serde_json::json!({"Version": "2012-10-17", "Statement": chosen})
    };
    (doc.clone(), [part(0), part(1), part(2)])
}

/// IAM's wildcard match (`*` any run, `?` one character), as AWS matches Resource and Action.
fn iam_match(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || p[i] == v[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(all) => {
            all.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
        }
        _ => Vec::new(),
    }
}

#[test]
fn the_documented_iam_policy_is_what_every_command_needs_and_no_more() {
    let Scenario { env, moto, mut fixture, prefix, url } = Scenario::new("iam");
    let p = prefix.as_str();

    // The three managed policies fit AWS's 6,144 characters (without spaces) with the longest
    // prefix aws-app takes (21 characters: the target group name's room).
    let (_, longest) = documented_policy(&"x".repeat(21));
    for part in &longest {
        let size = serde_json::to_string(part).expect("JSON").len();
        assert!(size <= 6144, "a managed policy of {size} characters: AWS refuses it");
    }

    // An operator of moto's IAM with exactly those three policies; the strict layer enforces them.
    let (doc, parts) = documented_policy(p);
    let user = format!("{p}-operator");
    let (key, secret) = moto.run(async {
        moto.iam.create_user().user_name(&user).send().await.expect("user");
        for (n, part) in parts.iter().enumerate() {
            let arn = moto
                .iam
                .create_policy()
                .policy_name(format!("{p}-aws-app-{}", n + 1))
                .policy_document(part.to_string())
                .send()
                .await
                .expect("create the documented policy")
                .policy()
                .and_then(|x| x.arn())
                .expect("arn")
                .to_string();
            let attach = moto.iam.attach_user_policy().user_name(&user).policy_arn(arn);
            attach.send().await.expect("attach");
        }
        let key = moto.iam.create_access_key().user_name(&user).send().await.expect("key");
        let key = key.access_key().expect("access key");
        (key.access_key_id().to_string(), key.secret_access_key().to_string())
    });
    let operator = [
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("SSL_CERT_FILE", env.trust.as_str()),
    ];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--prefix", p]);
        let out = env.aws_app_with(&all, &operator);
        assert_eq!(out.code, 0, "{args:?} with the documented policy: {out:?}");
        out
    };

    // Every command, as an operator runs them.
    let first = run(&["deploy", "--json", "--repo", &url]);
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello least privilege!"));
    fixture.commit("Second commit");
    // With a secret (a SecureString under a customer managed key): its lookups and the role's
    // inline policy; the next deploy, without it, deletes that policy.
    let parameter = format!("/{p}/token");
    moto.run(async {
        let key = moto.kms.create_key().send().await.expect("key");
        let key = key.key_metadata().expect("metadata").arn().expect("arn").to_string();
        let put = moto.ssm.put_parameter().name(&parameter).value("t0ken").key_id(key);
        put.r#type(aws_sdk_ssm::types::ParameterType::SecureString).send().await.expect("put");
    });
    // Autoscaled from here on: the target and its policies (and their alarms, which AWS makes
    // with these permissions); destroy deregisters it.
    // With a domain in the operator's zone: the certificate, its validation, HTTPS and the
    // aliases; the next deploy, without it, removes them.
    let scaled = ["--min", "1", "--max", "2"];
    let secret = format!("TOKEN={parameter}");
    let apex = format!("{p}.example.com");
    let name = format!("app.{apex}");
    moto.run(async {
        let zone = moto.route53.create_hosted_zone().name(&apex).caller_reference(p);
        zone.send().await.expect("the operator's zone");
    });
    let with = ["--secret", &secret, "--domain", &name];
    run(&[&["deploy", "--repo", &url][..], &with, &scaled].concat());
    run(&[&["deploy", "--repo", &url][..], &scaled].concat());
    run(&["status", "--json"]);
    run(&["logs", "--since", "10m"]);
    run(&["rollback"]);

    // The policy's ARNs name what the deploy made: each resource matches its statement.
    let arns = aws_arns(&moto, p);
    let statements = doc["Statement"].as_array().expect("statements");
    for (sid, arn) in &arns {
        let statement = statements.iter().find(|s| s["Sid"] == *sid).expect("statement");
        let patterns = strings(&statement["Resource"]);
        assert!(patterns.iter().any(|r| iam_match(r, arn)), "{sid}'s {patterns:?} miss {arn}");
    }
    assert!(first.json()["url"].is_string());
    run(&["destroy", "--yes"]);

    // AWS's side: nothing was denied, and what the policy allows is what was called, but for
    // what these runs had no cause to call.
    let (status, body) = http_get(&format!("{}/-/permissions?key={key}", env.moto));
    assert_eq!(status, 200, "{body}");
    let calls: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(calls["denied"], serde_json::json!([]), "{calls}");
    let called = strings(&calls["allowed"]);
    assert!(called.len() > 30, "the layer saw the calls: {called:?}");
    // Not called here, each for its reason: a region without a default VPC (aws-app makes its
    // own there, and destroy removes it); the registry's own (Docker pushes with the ECR token,
    // AWS checks these on the push); the lock table's creation and the wait until it is active
    // (once a region: another test may have made it) and a lock held by another (read while
    // waiting); tags set on their own (--adopt; EC2 checks ec2:CreateTags on a create that
    // tags); a failed rollout's diagnosis (its tasks and their log lines); a target group or
    // listener that drifted; the service-linked roles (made once an account); iam:PassRole,
    // which AWS checks inside RegisterTaskDefinition; destroy's cleanup of a builder. The
    // Builder* statements are for the EC2 builder (tests/builder.rs) and skipped below.
    let unexercised = [
        "ec2:CreateVpc",
        "ec2:ModifyVpcAttribute",
        "ec2:DescribeVpcAttribute",
        "ec2:CreateSubnet",
        "ec2:CreateInternetGateway",
        "ec2:AttachInternetGateway",
        "ec2:DetachInternetGateway",
        "ec2:CreateRouteTable",
        "ec2:CreateRoute",
        "ec2:AssociateRouteTable",
        "ec2:ModifySubnetAttribute",
        "ec2:DeleteSubnet",
        "ec2:DeleteRouteTable",
        "ec2:DeleteInternetGateway",
        "ec2:DeleteVpc",
        "ec2:DescribeRouteTables",
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeInternetGateways",
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:GetDownloadUrlForLayer",
        "dynamodb:CreateTable",
        "dynamodb:DescribeTable",
        "dynamodb:TagResource",
        "dynamodb:GetItem",
        "ecr:TagResource",
        "logs:TagResource",
        "iam:TagRole",
        "iam:TagInstanceProfile",
        "elasticloadbalancing:AddTags",
        "ecs:TagResource",
        "ec2:CreateTags",
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        "logs:GetLogEvents",
        "elasticloadbalancing:ModifyTargetGroup",
        "elasticloadbalancing:ModifyListener",
        "iam:CreateServiceLinkedRole",
        "iam:PassRole",
        "iam:GetInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:DeleteInstanceProfile",
        "ec2:DescribeInstances",
    ];
    let mut idle = Vec::new();
    for statement in statements {
        if statement["Sid"].as_str().is_some_and(|s| s.starts_with("Builder")) {
            continue;
        }
        for action in strings(&statement["Action"]) {
            if !called.contains(&action) && !unexercised.contains(&action.as_str()) {
                idle.push(action);
            }
        }
    }
    assert_eq!(idle, Vec::<String>::new(), "allowed, never called: {called:?}");

    // Without one of its actions, a deploy stops at that call: exit 2 naming the permission
    // and where the list is; destroy (with it) removes what was made.
    moto.run(async {
        let attached = moto.iam.list_attached_user_policies().user_name(&user).send().await;
        let arn = attached.expect("attached").attached_policies()[0]
            .policy_arn()
            .expect("arn")
            .to_string();
        let less = parts[0].to_string().replace("\"ecs:CreateService\",", "");
        assert!(!less.contains("ecs:CreateService"), "{less}");
        let version = moto.iam.create_policy_version().policy_arn(&arn).policy_document(less);
        version.set_as_default(true).send().await.expect("a version without ecs:CreateService");
    });
    let denied = env.aws_app_with(&["deploy", "--repo", &url, "--prefix", p], &operator);
    assert_eq!(denied.code, 2, "{denied:?}");
    let last = denied.last_stderr_line();
    assert!(last.contains("ecs:CreateService") && last.contains("docs/iam-policy.json"), "{last}");
    assert_eq!(env.aws_app(&["destroy", "--yes", "--prefix", p]).code, 0);
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new());
}

/// The ARNs of what a deploy of `p` made, each with the Sid of the statement that covers it.
fn aws_arns(moto: &Moto, p: &str) -> Vec<(&'static str, String)> {
    let name = format!("{p}-aws-app");
    moto.run(async {
        let mut arns = Vec::new();
        let repo = moto.ecr.describe_repositories().repository_names(&name).send().await;
        let repo = repo.expect("repository");
        arns.push((
            "EcrRepository",
            repo.repositories()[0].repository_arn().expect("arn").to_string(),
        ));
        let service = moto.ecs.describe_services().cluster(&name).services(&name).send().await;
        let service = service.expect("service").services()[0].clone();
        arns.push(("EcsCluster", service.cluster_arn().expect("cluster").to_string()));
        arns.push(("EcsService", service.service_arn().expect("service").to_string()));
        arns.push((
            "EcsRegisterTaskDefinition",
            service.task_definition().expect("td").to_string(),
        ));
        let lb = moto.elb.describe_load_balancers().names(&name).send().await.expect("lb");
        let lb_arn = lb.load_balancers()[0].load_balancer_arn().expect("arn").to_string();
        let listeners = moto.elb.describe_listeners().load_balancer_arn(&lb_arn).send().await;
        let listener =
            listeners.expect("listeners").listeners()[0].listener_arn().expect("arn").to_string();
        arns.push(("ElbLoadBalancer", lb_arn));
        arns.push(("ElbListener", listener));
        let tg = moto.elb.describe_target_groups().names(format!("{name}-tg")).send().await;
        let tg = tg.expect("target group").target_groups()[0]
            .target_group_arn()
            .expect("arn")
            .to_string();
        arns.push(("ElbTargetGroup", tg));
        let groups = moto
            .logs
            .describe_log_groups()
            .log_group_name_prefix(format!("/aws-app/{p}"))
            .send()
            .await;
        let group = groups.expect("log groups").log_groups()[0].arn().expect("arn").to_string();
        arns.push(("LogsGroup", group));
        let role = moto.iam.get_role().role_name(format!("{name}-task-execution")).send().await;
        arns.push(("IamOwnRoles", role.expect("role").role().expect("role").arn().to_string()));
        let table = moto.dynamodb.describe_table().table_name("aws-app-locks").send().await;
        let table = table
            .expect("lock table")
            .table()
            .and_then(|t| t.table_arn())
            .expect("arn")
            .to_string();
        arns.push(("DynamoDbLockTable", table));
        arns
    })
}
