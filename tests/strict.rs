//! What real AWS does that moto does not, emulated by the strict layer (tests/env/strict/
//! layer.py) with the data plane, and the tool's reaction to each: failed rollouts rolled back
//! by the circuit breaker, ECR's lifecycle policy expiring images, throttling at AWS's rates,
//! and random throttles and 5xx on any call. (A load balancer that provisions, a role IAM does
//! not know yet, draining services, lingering network interfaces and target groups, an internet
//! gateway not yet known to ELB: every deploy and destroy meets them; `deploy.rs` and
//! `lifecycle.rs` check the tool's answers.)

use crate::support::*;

/// The fixture app, failing only where Fargate runs it (Fargate sets AWS_EXECUTION_ENV): it
/// passes the smoke test, then its tasks on "AWS" exit at import.
const CRASHES_ON_FARGATE: &str = r#"import os

from flask import Flask

if os.environ.get("AWS_EXECUTION_ENV") == "AWS_ECS_FARGATE":
    raise RuntimeError("config/production.ini is missing")

app = Flask(__name__)


@app.route("/")
def index():
    return "<h1>Crashes on Fargate</h1>\n"
"#;

/// Boots on Fargate, but answers its health check with 500.
const UNHEALTHY_ON_FARGATE: &str = r#"import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    if os.environ.get("AWS_EXECUTION_ENV") == "AWS_ECS_FARGATE":
        return "the database is unreachable\n", 500
    return "<h1>Unhealthy on Fargate</h1>\n"
"#;

#[test]
fn a_failing_rollout_is_rolled_back_and_the_url_keeps_serving_the_previous_build() {
    let Scenario { env, moto, mut fixture, prefix, url } = Scenario::new("rollout");
    let p = prefix.as_str();
    let first = env.aws_app(&["deploy", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(first.code, 0, "{first:?}");
    let site = first.json()["url"].as_str().expect("url").to_string();
    let running = moto.service_task_definition(p);

    // A commit whose tasks exit at start: the circuit breaker fails the deployment after three
    // tasks and rolls back; deploy says why, with the stopped tasks and the app's own words.
    fixture.write("app.py", CRASHES_ON_FARGATE);
    fixture.commit("Read the production config");
    let crashed = env.aws_app(&["deploy", "--repo", &url, "--prefix", p]);
    assert_eq!(crashed.code, 1, "{crashed:?}");
    assert!(
        crashed.stderr.contains("the rollout failed: ECS deployment circuit breaker"),
        "{crashed:?}"
    );
    assert!(crashed.stderr.contains("Essential container in task exited"), "{crashed:?}");
    assert!(
        crashed.stderr.contains("config/production.ini is missing"),
        "the app's log: {crashed:?}"
    );
    let (status, body) = env.get(&site);
    assert_eq!(status, 200);
    assert!(body.contains("Hello World!"), "the previous build still serves: {body}");
    // The rollback's deployment completes on the previous revision.
    let mut rolled_back = false;
    for _ in 0..60 {
        let status = env.aws_app(&["status", "--json", "--prefix", p]);
        let s = status.json();
        if s["rollout_state"] == "COMPLETED" && moto.service_task_definition(p) == running {
            rolled_back = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(rolled_back, "the service runs {running} again");

    // A commit that boots but fails its health checks: the same, for that reason.
    fixture.write("app.py", UNHEALTHY_ON_FARGATE);
    fixture.commit("Check the database");
    let unhealthy = env.aws_app(&["deploy", "--repo", &url, "--prefix", p]);
    assert_eq!(unhealthy.code, 1, "{unhealthy:?}");
    assert!(unhealthy.stderr.contains("Task failed ELB health checks"), "{unhealthy:?}");
    assert!(env.get(&site).1.contains("Hello World!"));

    // The fix: deploy converges on it.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Fixed"));
    fixture.commit("Fix it");
    let fixed = env.aws_app(&["deploy", "--repo", &url, "--prefix", p]);
    assert_eq!(fixed.code, 0, "{fixed:?}");
    assert!(env.get(&site).1.contains("Fixed"));
}

/// The digests of the images in the prefix's ECR repository, with their tags.
fn ecr_images(moto: &Moto, repo: &str) -> Vec<(String, Vec<String>)> {
    moto.run(async {
        let out = moto.ecr.describe_images().repository_name(repo).send().await.expect("images");
        let mut images: Vec<(String, Vec<String>)> = out
            .image_details()
            .iter()
            .map(|i| (i.image_digest().unwrap_or_default().to_string(), i.image_tags().to_vec()))
            .collect();
        images.sort();
        images
    })
}

#[test]
fn the_lifecycle_policy_never_expires_what_runs_or_what_rollback_needs() {
    let Scenario { env, moto, mut fixture, prefix, url } = Scenario::new("expiry");
    let p = prefix.as_str();
    let repo = format!("{p}-aws-app");
    let deploy = |extra: &[&str]| {
        let mut args =
            vec!["deploy", "--json", "--keep-images", "2", "--repo", &url, "--prefix", p];
        args.extend_from_slice(extra);
        env.aws_app(&args)
    };
    // Images pushed to the repository by others (CI, another build), one between the deploys.
    let host = ECR_HOST;
    let push_other = |n: u32| {
        let container = docker(&["create", base_image()]);
        let tag = format!("{host}/{repo}:other-{n}");
        docker(&["commit", "--change", &format!("LABEL n={n}-{p}"), container.trim(), &tag]);
        docker(&["rm", container.trim()]);
        env.docker_ecr(&["push", "-q", &tag]);
        docker(&["rmi", &tag]);
    };
    let one = deploy(&[]);
    assert_eq!(one.code, 0, "{one:?}");
    // Pushed to the account's ECR registry itself (no override), with ECR's login.
    let image_one = one.json()["image"].as_str().expect("image").to_string();
    assert!(image_one.starts_with(&format!("{ECR_HOST}/")), "{image_one}");
    push_other(1);
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Second"));
    let second = fixture.commit("Second");
    let two = deploy(&[]);
    assert_eq!(two.code, 0, "{two:?}");
    let digest = |image: &str| image.rsplit_once('@').expect("by digest").1.to_string();
    let (d1, d2) = (digest(&image_one), digest(two.json()["image"].as_str().expect("image")));
    push_other(2);

    // Pushed in this order: deployed 1, other-1, deployed 2, other-2. The policy's second rule
    // keeps the two newest images (other-2, deployed 2): other-1 expires; the first rule keeps
    // both deployed images, whatever the second one counts.
    let images = ecr_images(&moto, &repo);
    let tags: Vec<String> = images.iter().flat_map(|(_, t)| t.clone()).collect();
    assert!(images.iter().any(|(d, _)| *d == d1), "the rollback target is kept: {images:?}");
    assert!(images.iter().any(|(d, _)| *d == d2), "the running image is kept: {images:?}");
    assert!(tags.contains(&format!("deployed-{}", d1.trim_start_matches("sha256:"))), "{tags:?}");
    assert!(!tags.contains(&"other-1".to_string()), "the older other image expired: {tags:?}");
    assert!(tags.contains(&"other-2".to_string()), "{tags:?}");

    // rollback goes to the first build, which is still there.
    let back = env.aws_app(&["rollback", "--json", "--prefix", p]);
    assert_eq!(back.code, 0, "{back:?}");
    let site = one.json()["url"].as_str().expect("url").to_string();
    assert!(env.get(&site).1.contains("Hello World!"));

    // An image that is gone (deleted by hand): rollback refuses before touching the service.
    moto.run(async {
        let id = aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(&d2).build();
        moto.ecr
            .batch_delete_image()
            .repository_name(&repo)
            .image_ids(id)
            .send()
            .await
            .expect("delete");
    });
    let before = moto.service_task_definition(p);
    let gone = env.aws_app(&["rollback", "--to", &second[..12], "--prefix", p]);
    assert_eq!(gone.code, 2, "{gone:?}");
    assert!(gone.last_stderr_line().contains("which ECR no longer has"), "{gone:?}");
    assert_eq!(moto.service_task_definition(p), before, "the service was not touched");
}

#[test]
fn task_definitions_beyond_the_rate_limit_are_deregistered_all_the_same() {
    // ECS takes task definition (de)registrations at about 1 per second with bursts of 20: a
    // destroy of a family with 30 revisions is throttled, and retries until it is through. The
    // revisions carry the tags aws-app gives its own (destroy leaves a family without them).
    let env = aws_env();
    let direct = env.clients_direct("us-east-1");
    let prefix = Prefix::new("throttle");
    let p = prefix.as_str();
    let family = format!("{p}-aws-app");
    direct.run(async {
        for _ in 0..30 {
            let container = aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("public.ecr.aws/docker/library/python:3.11-slim")
                .memory(512)
                .build();
            direct
                .ecs
                .register_task_definition()
                .family(&family)
                .container_definitions(container)
                .tags(aws_sdk_ecs::types::Tag::builder().key("aws-app:prefix").value(p).build())
                .tags(aws_sdk_ecs::types::Tag::builder().key("managed-by").value("aws-app").build())
                .send()
                .await
                .expect("register");
        }
    });
    let throttled = |stats: &serde_json::Value| {
        stats["throttled"]["ecs DeregisterTaskDefinition"].as_u64().unwrap_or(0)
    };
    let before = throttled(&env.layer_stats());
    let destroyed = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
    assert!(destroyed.stderr.contains("30 task definition revision(s)"), "{destroyed:?}");
    assert!(throttled(&env.layer_stats()) > before, "AWS's rate was met");
    let left = direct.run(async {
        direct
            .ecs
            .list_task_definitions()
            .family_prefix(&family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .send()
            .await
            .expect("list")
            .task_definition_arns()
            .len()
    });
    assert_eq!(left, 0);
}

#[test]
fn deploy_redeploy_rollback_and_destroy_converge_under_random_faults() {
    // Three seeds, side by side: one call in eight answered with a throttle or a 5xx before it
    // reaches AWS. Every command succeeds (retrying what AWS says may be retried), nothing is
    // made twice, and destroy leaves nothing behind.
    let env = aws_env();
    std::thread::scope(|s| {
        for seed in [11_u64, 23, 47] {
            s.spawn(move || {
                let chaos = env.chaos(seed, 0.125);
                let moto = env.clients();
                let mut fixture = Fixture::new(APP_PY);
                let prefix = Prefix::new(&format!("chaos{seed}"));
                let p = prefix.as_str();
                let url = fixture.url();
                let run = |args: &[&str]| {
                    let run = env.aws_app_with(args, &[("AWS_ENDPOINT_URL", &chaos.url)]);
                    assert_eq!(run.code, 0, "seed {seed}: {args:?}: {run:?}");
                    run
                };
                let first = run(&["deploy", "--json", "--repo", &url, "--prefix", p]);
                let site = first.json()["url"].as_str().expect("url").to_string();
                fixture.write("app.py", &APP_PY.replace("Hello World!", "Chaos"));
                fixture.commit("Second");
                run(&["redeploy", "--repo", &url, "--prefix", p]);
                assert!(env.get(&site).1.contains("Chaos"));
                run(&["rollback", "--prefix", p]);
                assert!(env.get(&site).1.contains("Hello World!"));
                crate::deploy::assert_one_of_each_but_revisions(&moto, p, 2);
                run(&["destroy", "--yes", "--prefix", p]);
                assert_eq!(crate::lifecycle::leftovers(env, &moto, p), Vec::<String>::new());
            });
        }
    });
}
