//! Day 2 against moto + registry + data plane: destroy (and, as they land, the other commands).

use crate::support::*;

/// Everything of the prefix that moto still has, as "kind name" lines (empty: all gone).
pub fn leftovers(env: &AwsEnv, moto: &Moto, p: &str) -> Vec<String> {
    let _ = env;
    moto.run(async {
        use aws_sdk_ec2::types::Filter;
        let mut left = Vec::new();
        let lbs = moto.elb.describe_load_balancers().send().await.expect("lbs");
        left.extend(
            lbs.load_balancers()
                .iter()
                .filter_map(|l| l.load_balancer_name())
                .filter(|n| n.starts_with(&format!("{p}-")))
                .map(|n| format!("load balancer {n}")),
        );
        let tgs = moto.elb.describe_target_groups().send().await.expect("tgs");
        left.extend(
            tgs.target_groups()
                .iter()
                .filter_map(|t| t.target_group_name())
                .filter(|n| n.starts_with(&format!("{p}-")))
                .map(|n| format!("target group {n}")),
        );
        let tag = Filter::builder().name("tag:aws-app:prefix").values(p).build();
        let sgs =
            moto.ec2.describe_security_groups().filters(tag.clone()).send().await.expect("sgs");
        left.extend(
            sgs.security_groups()
                .iter()
                .filter_map(|g| g.group_name())
                .map(|n| format!("security group {n}")),
        );
        let vpcs = moto.ec2.describe_vpcs().filters(tag).send().await.expect("vpcs");
        left.extend(vpcs.vpcs().iter().filter_map(|v| v.vpc_id()).map(|n| format!("vpc {n}")));
        let clusters = moto
            .ecs
            .describe_clusters()
            .clusters(format!("{p}-aws-app"))
            .send()
            .await
            .expect("clusters");
        left.extend(
            clusters
                .clusters()
                .iter()
                .filter(|c| c.status() == Some("ACTIVE"))
                .map(|_| "cluster".to_string()),
        );
        let tds = moto
            .ecs
            .list_task_definitions()
            .family_prefix(format!("{p}-aws-app"))
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .send()
            .await
            .expect("tds");
        left.extend(tds.task_definition_arns().iter().map(|a| format!("task definition {a}")));
        if moto.iam.get_role().role_name(format!("{p}-aws-app-task-execution")).send().await.is_ok()
        {
            left.push("role".into());
        }
        if moto
            .ecr
            .describe_repositories()
            .repository_names(format!("{p}-aws-app"))
            .send()
            .await
            .is_ok()
        {
            left.push("ecr repository".into());
        }
        let groups = moto
            .logs
            .describe_log_groups()
            .log_group_name_prefix(format!("/aws-app/{p}"))
            .send()
            .await
            .expect("log groups");
        left.extend(
            groups
                .log_groups()
                .iter()
                .filter_map(|g| g.log_group_name())
                .map(|n| format!("log group {n}")),
        );
        let certificates = moto.acm.list_certificates().send().await.expect("certificates");
        for summary in certificates.certificate_summary_list() {
            let arn = summary.certificate_arn().unwrap_or_default();
            let tags = moto.acm.list_tags_for_certificate().certificate_arn(arn).send().await;
            let tags = tags.expect("certificate tags");
            if tags.tags().iter().any(|t| t.key() == "aws-app:prefix" && t.value() == Some(p)) {
                left.push(format!("certificate {}", summary.domain_name().unwrap_or_default()));
            }
        }
        let ns = aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs;
        let id = format!("service/{p}-aws-app/{p}-aws-app");
        let targets = moto.autoscaling.describe_scalable_targets().service_namespace(ns.clone());
        let targets = targets.resource_ids(&id).send().await.expect("scalable targets");
        left.extend(
            targets
                .scalable_targets()
                .iter()
                .map(|t| format!("scalable target {}", t.resource_id())),
        );
        let policies = moto.autoscaling.describe_scaling_policies().service_namespace(ns);
        let policies = policies.resource_id(&id).send().await.expect("scaling policies");
        left.extend(
            policies
                .scaling_policies()
                .iter()
                .filter(|s| s.resource_id() == id)
                .map(|s| format!("scaling policy {}", s.policy_name())),
        );
        left
    })
}

#[test]
fn destroy_removes_everything_and_a_second_destroy_has_nothing_to_do() {
    let Scenario { env, moto, fixture: _fixture, prefix, url } = Scenario::new("destroy");
    let p = prefix.as_str();
    let run = env.aws_app(&["deploy", "--repo", &url, "--prefix", p]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(leftovers(env, &moto, p).len() >= 8, "{:?}", leftovers(env, &moto, p));

    // Without a terminal and without --yes: refused, nothing deleted.
    let refused = env.aws_app(&["destroy", "--prefix", p]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.last_stderr_line().contains("pass --yes"), "{refused:?}");
    assert!(leftovers(env, &moto, p).len() >= 8);

    let destroyed = env.aws_app(&["destroy", "--yes", "--json", "--prefix", p]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new(), "{destroyed:?}");
    let deleted = destroyed.json()["deleted"].as_array().expect("deleted").len();
    assert!(deleted >= 9, "{destroyed:?}");
    // As in real AWS, the target group stays in use a moment after its listener goes, and the
    // security groups while the tasks' and the load balancer's network interfaces linger.
    for busy in ["ResourceInUse (not settled yet", "DependencyViolation (not settled yet"] {
        assert!(destroyed.stderr.contains(busy), "{busy}: {destroyed:?}");
    }

    // A deploy at once: the deleted service of that name still drains; deploy waits it out.
    let redeployed = env.aws_app(&["deploy", "--repo", &url, "--prefix", p]);
    assert_eq!(redeployed.code, 0, "{redeployed:?}");
    assert!(
        redeployed.stderr.contains("creating the ECS service: InvalidParameterException"),
        "the draining service was waited for: {redeployed:?}"
    );
    let destroyed = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new(), "{destroyed:?}");

    let again = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("nothing to delete"), "{again:?}");
}

#[test]
fn an_interrupted_destroy_is_finished_by_the_next_one() {
    let Scenario { env, moto, fixture: _fixture, prefix, url } = Scenario::new("halfdestroy");
    let p = prefix.as_str();
    let run = env.aws_app(&["deploy", "--repo", &url, "--prefix", p]);
    assert_eq!(run.code, 0, "{run:?}");

    env.kill_at(&["destroy", "--yes", "--prefix", p], "aws-app: deleted load balancer");

    let finish = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(finish.code, 0, "{finish:?}");
    assert!(!finish.stderr.contains("nothing to delete"), "the rest was still there: {finish:?}");
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new(), "{finish:?}");
}

#[test]
fn redeploy_status_logs_and_rollback_follow_the_branch() {
    let Scenario { env, moto, mut fixture, prefix, url } = Scenario::new("daytwo");
    let p = prefix.as_str();
    let first = fixture.head();
    let deploy = env.aws_app(&["deploy", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(deploy.code, 0, "{deploy:?}");
    let site = deploy.json()["url"].as_str().expect("url").to_string();

    // Nothing new: redeploy answers without Docker (it would fail to reach this one).
    let no_docker = |args: &[&str]| {
        env.aws_app_with(args, &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")])
    };
    let same = no_docker(&["redeploy", "--repo", &url, "--prefix", p]);
    assert_eq!(same.code, 0, "{same:?}");
    assert!(same.stderr.contains("up to date"), "{same:?}");
    assert_eq!(same.last_stdout_line(), site);

    // status --json: what runs, from AWS alone.
    let status = no_docker(&["status", "--json", "--prefix", p]);
    assert_eq!(status.code, 0, "{status:?}");
    let s = status.json();
    assert_eq!(s["url"], site);
    assert_eq!(s["commit"], first);
    assert_eq!(s["commit_time"], "2021-11-16T10:00:00Z");
    assert!(s["age_seconds"].as_i64().expect("age") > 86_400 * 365);
    assert_eq!(s["revision"], 1);
    assert_eq!((s["desired"].as_i64(), s["running"].as_i64()), (Some(1), Some(1)));
    assert_eq!(s["rollout_state"], "COMPLETED");
    assert!(s["image"].as_str().expect("image").contains("@sha256:"));
    assert!(s["events"].is_array() && s["targets"].is_array(), "{s}");

    // logs: lines written to the log group come back with their task.
    moto.run(async {
        let group = format!("/aws-app/{p}");
        moto.logs
            .create_log_stream()
            .log_group_name(&group)
            .log_stream_name("app/app/0123456789abcdef")
            .send()
            .await
            .expect("stream");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_millis() as i64;
        let event = |t: i64, m: &str| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(t)
                .message(m)
                .build()
                .expect("event")
        };
        moto.logs
            .put_log_events()
            .log_group_name(&group)
            .log_stream_name("app/app/0123456789abcdef")
            .log_events(event(now - 2000, "Booting worker with pid: 7"))
            .log_events(event(now - 1000, "GET / HTTP/1.1 200"))
            .send()
            .await
            .expect("put events");
    });
    let logs = no_docker(&["logs", "--since", "10m", "--prefix", p]);
    assert_eq!(logs.code, 0, "{logs:?}");
    let lines: Vec<&str> = logs.stdout.lines().collect();
    assert_eq!(
        lines,
        ["0123456789ab Booting worker with pid: 7", "0123456789ab GET / HTTP/1.1 200"],
        "{logs:?}"
    );

    // A new commit: redeploy rolls it out; the URL serves the new page.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello again!"));
    let second = fixture.commit("Change the greeting");
    let moved = env.aws_app(&["redeploy", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(moved.code, 0, "{moved:?}");
    assert_eq!(moved.json()["commit"], second);
    assert!(env.get(&site).1.contains("Hello again!"));
    let same = no_docker(&["redeploy", "--repo", &url, "--prefix", p]);
    assert_eq!(same.code, 0, "{same:?}");
    assert!(same.stderr.contains("up to date"), "{same:?}");

    // rollback: the previous revision serves the previous page again; --to goes forward again.
    let back = no_docker(&["rollback", "--json", "--prefix", p]);
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(back.json()["commit"], first);
    let (status, body) = env.get(&site);
    assert_eq!(status, 200);
    assert!(body.contains("Hello World!"), "{body}");
    let status = no_docker(&["status", "--json", "--prefix", p]);
    assert_eq!(status.json()["revision"], 1, "{status:?}");
    let forward = no_docker(&["rollback", "--to", &second[..10], "--prefix", p]);
    assert_eq!(forward.code, 0, "{forward:?}");
    assert!(env.get(&site).1.contains("Hello again!"));
    let unknown = no_docker(&["rollback", "--to", "deadbeef", "--prefix", p]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.last_stderr_line().contains("no revision of"), "{unknown:?}");
}

#[test]
fn watch_deploys_each_new_commit_and_stops_on_sigterm() {
    let Scenario { env, mut fixture, prefix, url, .. } = Scenario::new("watch");
    let p = prefix.as_str();
    let mut run = Spawned::start(
        env.command(&["watch", "--interval", "1s", "--repo", &url, "--prefix", p], &[]),
    );
    // The first commit is deployed, then each new one.
    run.wait_for(&format!("runs {}", &fixture.head()[..12]));
    for greeting in ["Hello again!", "Hello a third time!"] {
        fixture.write("app.py", &APP_PY.replace("Hello World!", greeting));
        let commit = fixture.commit(greeting);
        run.wait_for(&format!("new commit {}", &commit[..12]));
        run.wait_for(&format!("runs {}", &commit[..12]));
    }
    run.signal("-TERM");
    let (code, seen) = run.finish();
    assert_eq!(code, Some(0), "{seen}");
    let status = env.aws_app(&["status", "--json", "--prefix", p]);
    assert_eq!(status.json()["commit"], fixture.head());
    assert!(env.get(status.json()["url"].as_str().expect("url")).1.contains("Hello a third time!"));
}

#[test]
fn watch_retries_a_round_that_failed_outside_the_commit_and_skips_a_failing_commit() {
    let Scenario { env, mut fixture, prefix, url, .. } = Scenario::new("watchfault");
    let p = prefix.as_str();
    // AWS through a front that passes every call (no chaos), so it can go away and come back.
    let front = env.chaos(7, 0.0);
    let port = front.port;
    let endpoint = front.url.clone();
    let args = ["watch", "--interval", "1s", "--repo", &url, "--prefix", p];
    let mut run = Spawned::start(env.command(&args, &[("AWS_ENDPOINT_URL", &endpoint)]));
    run.wait_for(&format!("runs {}", &fixture.head()[..12]));

    // A commit whose smoke test fails is the commit's fault: skipped until the branch moves.
    fixture.write("app.py", &APP_PY.replace("import os\n", "import os\nraise SystemExit(3)\n"));
    let broken = fixture.commit("Broken");
    run.wait_for(&format!("{} is not tried again until the branch moves", &broken[..12]));

    // AWS goes away in the middle of the next commit's deploy: not the commit's fault; the
    // round is tried again after a backoff, and deploys the commit once AWS is back.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello after the outage!"));
    let fixed = fixture.commit("Fixed");
    run.wait_for(&format!("new commit {}", &fixed[..12]));
    run.wait_for("smoke test passed");
    drop(front);
    let failed = run.wait_for("this round failed");
    assert!(failed.contains("next try in 5 s"), "{failed}");
    let _back = env.chaos_on(port, 7, 0.0);
    run.wait_for(&format!("runs {}", &fixed[..12]));
    run.signal("-TERM");
    let (code, seen) = run.finish();
    assert_eq!(code, Some(0), "{seen}");
    let status = env.aws_app(&["status", "--json", "--prefix", p]);
    assert_eq!(status.json()["commit"], fixed);
    let page = env.get(status.json()["url"].as_str().expect("url")).1;
    assert!(page.contains("Hello after the outage!"), "{page}");
    assert_eq!(env.aws_app(&["destroy", "--yes", "--prefix", p]).code, 0);
}
