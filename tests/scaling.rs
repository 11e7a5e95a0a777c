//! `--min`/`--max`: the service as an Application Auto Scaling target with its two target
//! tracking policies, read back from the test AWS; the count a policy sets survives a redeploy;
//! a narrower range brings the count into it; without a range the autoscaling goes; destroy
//! leaves none. The strict layer plays Application Auto Scaling's side (tests/env/strict/layer.py:
//! a range clamps the count when registered, POST /-/scale fires a policy's alarm).

use aws_sdk_applicationautoscaling::types::{MetricType, ScalableDimension, ServiceNamespace};

use crate::lifecycle::leftovers;
use crate::support::*;

/// The scalable target's range and its policies as `(name, metric, label, target, in, out)`.
type Found = (Option<(i32, i32)>, Vec<(String, MetricType, Option<String>, f64, i32, i32)>);

fn autoscaling(moto: &Moto, p: &str) -> Found {
    let id = format!("service/{p}-aws-app/{p}-aws-app");
    moto.run(async {
        let targets = moto
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(&id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await
            .expect("scalable targets");
        let range =
            targets.scalable_targets().first().map(|t| (t.min_capacity(), t.max_capacity()));
        let policies = moto
            .autoscaling
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&id)
            .send()
            .await
            .expect("policies");
        let mut policies: Vec<_> = policies
            .scaling_policies()
            .iter()
            .filter(|s| s.resource_id() == id)
            .map(|s| {
                let c = s.target_tracking_scaling_policy_configuration().expect("target tracking");
                let m = c.predefined_metric_specification().expect("a predefined metric");
                (
                    s.policy_name().to_string(),
                    m.predefined_metric_type().clone(),
                    m.resource_label().map(str::to_string),
                    c.target_value(),
                    c.scale_in_cooldown().unwrap_or_default(),
                    c.scale_out_cooldown().unwrap_or_default(),
                )
            })
            .collect();
        policies.sort_by(|a, b| a.0.cmp(&b.0));
        (range, policies)
    })
}

/// The service's desired count in moto.
fn desired(moto: &Moto, p: &str) -> i32 {
    moto.service(p).desired_count()
}

/// The request metric's label from the load balancer's and target group's ARNs in moto.
fn label(moto: &Moto, p: &str) -> String {
    moto.run(async {
        let lbs = moto.elb.describe_load_balancers().names(format!("{p}-aws-app")).send().await;
        let lb = lbs.expect("lb").load_balancers()[0].load_balancer_arn().expect("arn").to_string();
        let tgs = moto.elb.describe_target_groups().names(format!("{p}-aws-app-tg")).send().await;
        let tg = tgs.expect("tg").target_groups()[0].target_group_arn().expect("arn").to_string();
        let tail = |arn: &str, marker: &str| arn.split_once(marker).expect(marker).1.to_string();
        format!("{}/targetgroup/{}", tail(&lb, ":loadbalancer/"), tail(&tg, ":targetgroup/"))
    })
}

#[test]
fn autoscaling_keeps_the_service_in_its_range_and_a_redeploy_leaves_the_count_to_it() {
    let Scenario { env, moto, mut fixture, prefix, url } = Scenario::new("scaling");
    let p = prefix.as_str();
    let run = |command: &str, extra: &[&str]| {
        let mut all = vec![command, "--json", "--repo", &url, "--prefix", p];
        all.extend_from_slice(extra);
        env.aws_app(&all)
    };

    // Bad ranges: exit 2 with one line, before anything is made.
    for (extra, says) in [
        (&["--min", "2"][..], "both --min and --max"),
        (&["--max", "2"][..], "both --min and --max"),
        (&["--min", "3", "--max", "2"][..], "--min 3 is more than --max 2"),
        (&["--min", "0", "--max", "2"][..], "use 1 to 100 tasks"),
        (&["--min", "1", "--max", "4", "--count", "6"][..], "--count 6 is outside --min 1 --max 4"),
    ] {
        let bad = run("deploy", extra);
        assert_eq!(bad.code, 2, "{extra:?}: {bad:?}");
        assert!(bad.stderr.contains(says), "{extra:?}: {}", bad.stderr);
        assert_eq!(bad.stderr.trim().lines().count(), 1, "{extra:?}: {}", bad.stderr);
    }
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new(), "bad input made something");

    // Autoscaled from the start: 2 tasks within 1-4, two policies, out faster than in.
    let first = run("deploy", &["--min", "1", "--max", "4", "--count", "2"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.stderr.contains("autoscaling 1–4 tasks on requests per task"), "{first:?}");
    let (range, policies) = autoscaling(&moto, p);
    assert_eq!(range, Some((1, 4)));
    assert_eq!(desired(&moto, p), 2, "--count is the starting size");
    let label = label(&moto, p);
    assert_eq!(policies.len(), 2, "{policies:?}");
    let (cpu, requests) = (&policies[0], &policies[1]);
    assert_eq!(cpu.0, format!("{p}-aws-app-cpu"));
    assert_eq!(cpu.1, MetricType::EcsServiceAverageCpuUtilization);
    assert_eq!((cpu.2.as_deref(), cpu.3), (None, 70.0));
    assert_eq!(requests.0, format!("{p}-aws-app-requests"));
    assert_eq!(requests.1, MetricType::AlbRequestCountPerTarget);
    assert_eq!((requests.2.as_deref(), requests.3), (Some(label.as_str()), 1000.0));
    for policy in &policies {
        assert!(policy.4 > policy.5, "scale-in slower than scale-out: {policy:?}");
    }

    // Nothing to do: plan writes nothing and calls it unchanged; redeploy does nothing.
    let same = ["--min", "1", "--max", "4", "--count", "2"];
    let plan = run("plan", &same);
    assert_eq!(plan.code, 0, "{plan:?}");
    let changes = plan.json()["changes"].clone();
    let scaling =
        changes.as_array().expect("changes").iter().find(|c| {
            c["resource"] == format!("autoscaling service/{p}-aws-app/{p}-aws-app").as_str()
        });
    assert_eq!(scaling.expect("an autoscaling change")["action"], "unchanged", "{changes}");
    assert_eq!(plan.json()["writes"], 0);
    let cost = &plan.json()["cost_autoscaled"];
    assert_eq!((cost["min_tasks"].clone(), cost["max_tasks"].clone()), (1.into(), 4.into()));
    let usd = |end: &str| cost[end]["monthly_usd"].as_f64().expect("priced in us-east-1");
    assert!(usd("max") > usd("min"), "{cost}");
    let again = run("redeploy", &same);
    assert_eq!((again.code, again.json()["changed"].clone()), (0, false.into()), "{again:?}");

    let status = env.aws_app(&["status", "--prefix", p]);
    assert!(status.stdout.contains("scaling    1–4 tasks, now 2 desired"), "{status:?}");
    assert!(status.stdout.contains("no scaling activity yet"), "{status:?}");

    // Load: the request policy's alarm asks for 6 tasks; autoscaling sets 4, the range's top.
    let scale = format!(
        "{}/-/scale?region=us-east-1&resource=service/{p}-aws-app/{p}-aws-app&policy={p}-aws-app-requests&count=6",
        env.moto
    );
    let (code, body) = http_request("POST", &scale);
    assert_eq!(code, 200, "{body}");
    assert_eq!(desired(&moto, p), 4);
    let status = env.aws_app(&["status", "--json", "--prefix", p]);
    let json = status.json();
    assert_eq!(json["desired"], 4, "{status:?}");
    assert_eq!(
        (json["autoscaling"]["min"].clone(), json["autoscaling"]["max"].clone()),
        (1.into(), 4.into())
    );
    let activities = json["autoscaling"]["activities"].as_array().expect("activities").clone();
    assert_eq!(activities.len(), 1, "{activities:?}");
    assert_eq!(activities[0]["description"], "Setting desired count to 4.");
    assert!(
        activities[0]["cause"].as_str().unwrap_or_default().contains("-requests"),
        "{activities:?}"
    );
    let text = env.aws_app(&["status", "--prefix", p]);
    assert!(text.stdout.contains("Successful: Setting desired count to 4."), "{text:?}");

    // A new commit rolls out; the count is the policies', not --count's.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello again"));
    fixture.commit("Second commit");
    let second = run("redeploy", &same);
    assert_eq!((second.code, second.json()["changed"].clone()), (0, true.into()), "{second:?}");
    assert!(env.get(second.json()["url"].as_str().expect("url")).1.contains("Hello again"));
    assert_eq!(desired(&moto, p), 4, "a redeploy reset the autoscaled count");

    // A narrower range: plan names it, the deploy brings the count into it.
    let narrow = ["--min", "1", "--max", "2"];
    let plan = run("plan", &narrow);
    assert!(plan.stdout.contains("range 1–4 tasks → 1–2 tasks"), "{plan:?}");
    let narrowed = run("deploy", &narrow);
    assert_eq!(narrowed.code, 0, "{narrowed:?}");
    assert_eq!(autoscaling(&moto, p).0, Some((1, 2)));
    assert_eq!(desired(&moto, p), 2);
    let redeploy = run("redeploy", &same);
    assert_eq!(
        (redeploy.code, redeploy.json()["changed"].clone()),
        (0, true.into()),
        "{redeploy:?}"
    );
    assert_eq!(autoscaling(&moto, p).0, Some((1, 4)), "a redeploy with another range applies it");

    // Without a range: plan says it goes, the deploy removes it, --count runs.
    let plan = run("plan", &[]);
    assert!(
        plan.stdout.contains(&format!("autoscaling service/{p}-aws-app/{p}-aws-app")),
        "{plan:?}"
    );
    let fixed = run("deploy", &[]);
    assert_eq!(fixed.code, 0, "{fixed:?}");
    assert_eq!(autoscaling(&moto, p), (None, Vec::new()), "the target and its policies go");
    assert_eq!(desired(&moto, p), 1);
    let status = env.aws_app(&["status", "--json", "--prefix", p]);
    assert!(status.json()["autoscaling"].is_null(), "{status:?}");

    // Autoscaled again, then destroy leaves no target or policy behind.
    let again = run("deploy", &["--min", "2", "--max", "3"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(desired(&moto, p), 2, "the range's minimum brings the count up");
    let gone = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(gone.code, 0, "{gone:?}");
    assert!(gone.stderr.contains("deleted autoscaling"), "{gone:?}");
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new());
}
