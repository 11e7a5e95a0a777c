//! `plan` and `deploy --dry-run`: what a deploy would do, read from moto and never written to
//! it. Every plan here is checked to have sent no write (the tool's call interceptor refuses
//! writes in a plan and counts those tried), and a fresh prefix's plan to have made nothing.

use crate::support::*;

/// The plan's action for the resource whose name starts with `what`.
fn action(plan: &serde_json::Value, what: &str) -> String {
    let changes = plan["changes"].as_array().expect("changes");
    let found = changes.iter().find(|c| c["resource"].as_str().unwrap_or("").starts_with(what));
    found.unwrap_or_else(|| panic!("no {what} in {plan}"))["action"]
        .as_str()
        .expect("action")
        .to_string()
}

fn plan(env: &AwsEnv, args: &[&str]) -> serde_json::Value {
    let run = env.aws_app(args);
    assert_eq!(run.code, 0, "{run:?}");
    let out = run.json();
    assert_eq!(out["writes"], 0, "a plan sent a write: {out}");
    assert!(out["api_calls"].as_u64().unwrap_or(0) > 10, "{out}");
    out
}

#[test]
fn plan_shows_creates_then_nothing_then_drift_and_a_new_commit_without_writing() {
    let Scenario { env, moto, mut fixture, prefix, url } = Scenario::new("plan");
    let p = prefix.as_str();
    let lb = format!("{p}-aws-app");
    let tg = format!("{p}-aws-app-tg");

    // A fresh account: everything would be created, built and rolled out; nothing is made.
    let fresh = plan(env, &["plan", "--json", "--repo", &url, "--prefix", p]);
    for what in [
        "load balancer",
        "target group",
        "listener :80",
        "security group",
        "log group",
        "ECR repository",
        "ECS cluster",
        "task definition",
        "ECS service",
    ] {
        assert_eq!(action(&fresh, what), "create", "{what}: {fresh}");
    }
    assert_eq!(action(&fresh, "VPC"), "unchanged", "the default VPC is used: {fresh}");
    assert_eq!(fresh["build"], true, "{fresh}");
    assert_eq!(fresh["rollout"], true, "{fresh}");
    assert_eq!(fresh["commit"], fixture.head());
    assert!(fresh["blocked"].is_null(), "{fresh}");
    let cost = &fresh["cost"];
    let monthly = cost["monthly_usd"].as_f64().expect("a us-east-1 estimate");
    // 0.25 vCPU and 0.5 GB for 730 h (9.01), the ALB's hours and one LCU (22.27), three public
    // IPv4 addresses (the task's and the ALB's two zones: 10.95), 1 GB of logs (0.53), one
    // image assumed (0.01).
    assert_eq!(monthly, 42.76, "{cost}");
    assert!(cost["prices_as_of"].is_string(), "{cost}");
    let items = cost["items"].as_array().expect("items");
    assert!(items.iter().any(|i| i["what"].as_str().unwrap_or("").contains("LCU assumed")));
    assert!(crate::deploy::load_balancers(&moto, &lb).is_empty(), "plan created a load balancer");

    // The same as text: one line per resource, the build, the rollout, the estimate.
    let text = env.aws_app(&["plan", "--repo", &url, "--prefix", p]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains(&format!("create     load balancer {lb}")), "{text:?}");
    assert!(text.stdout.contains("build      image of"), "{text:?}");
    assert!(text.stdout.contains("estimated monthly cost"), "{text:?}");
    assert!(text.stderr.contains("0 writes"), "{text:?}");

    // `deploy --dry-run` is the plan.
    let dry = plan(env, &["deploy", "--dry-run", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(dry["changes"], fresh["changes"]);

    let deployed = env.aws_app(&["deploy", "--repo", &url, "--prefix", p]);
    assert_eq!(deployed.code, 0, "{deployed:?}");

    // Up to date: every resource unchanged, nothing to build or roll out.
    let current = plan(env, &["plan", "--json", "--repo", &url, "--prefix", p]);
    for change in current["changes"].as_array().expect("changes") {
        // ECS's service-linked role is the account's: made by this deploy or another test's a
        // moment ago, IAM may not show it yet (the layer's IAM lag), and a deploy would
        // (harmlessly) ask to make it.
        if change["resource"] != "IAM role AWSServiceRoleForECS" {
            assert_eq!(change["action"], "unchanged", "{current}");
        }
    }
    assert_eq!(current["build"], false, "{current}");
    assert_eq!(current["rollout"], false, "{current}");

    // Drift: a health check changed by hand is an update naming what differs.
    moto.run(async {
        let tgs = moto.elb.describe_target_groups().names(&tg).send().await.expect("tg");
        let arn = tgs.target_groups()[0].target_group_arn().expect("arn").to_string();
        moto.elb
            .modify_target_group()
            .target_group_arn(arn)
            .health_check_interval_seconds(30)
            .health_check_path("/health")
            .send()
            .await
            .expect("drift the health check");
    });
    let drifted = plan(env, &["plan", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(action(&drifted, "target group"), "update", "{drifted}");
    let tg_change = drifted["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["resource"] == format!("target group {tg}"))
        .expect("target group")
        .clone();
    let differences = tg_change["differences"].to_string();
    assert!(differences.contains("interval 30 → 5"), "{tg_change}");
    assert!(differences.contains("health check path /health → /"), "{tg_change}");
    assert_eq!(action(&drifted, "ECS service"), "unchanged", "{drifted}");
    assert_eq!(drifted["rollout"], false, "drift of the health check needs no rollout");

    // A new commit: built and rolled out as a new revision.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello plan!"));
    let next = fixture.commit("next");
    let moved = plan(env, &["plan", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(moved["commit"], next);
    assert_eq!(moved["build"], true, "{moved}");
    assert_eq!(moved["rollout"], true, "{moved}");
    assert_eq!(action(&moved, "task definition"), "update", "{moved}");
    assert_eq!(action(&moved, "ECS service"), "update", "{moved}");

    // A deploy mends the drift; destroy lists what it deletes in the plan's words.
    let mended = env.aws_app(&["deploy", "--repo", &url, "--prefix", p]);
    assert_eq!(mended.code, 0, "{mended:?}");
    let after = plan(env, &["plan", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(action(&after, "target group"), "unchanged", "{after}");
    let destroy = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroy.code, 0, "{destroy:?}");
    assert!(destroy.stderr.contains(&format!("delete     load balancer {lb}")), "{destroy:?}");
}

#[test]
fn a_region_without_prices_gets_no_estimate_rather_than_a_guess() {
    let env = aws_env();
    let fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("plan-region");
    let p = prefix.as_str();
    let args =
        ["plan", "--json", "--region", "ap-south-2", "--repo", &fixture.url(), "--prefix", p];
    let out = plan(env, &args);
    assert!(out["cost"]["monthly_usd"].is_null(), "{out}");
    let text = env.aws_app(&args[..1].iter().chain(&args[2..]).copied().collect::<Vec<_>>());
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("no prices for ap-south-2"), "{text:?}");
}
