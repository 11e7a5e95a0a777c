//! `--min`/`--max`: the service as an Application Auto Scaling target, scaled by two target
//! tracking policies: requests per task (the ALB's `RequestCountPerTarget`) and average CPU. The
//! policies scale out quickly and in slowly; while the service is autoscaled, a deploy leaves its
//! desired count to them (`ServiceSpec::range`).

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ScalableTarget,
    ScalingActivity, ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};

use super::change::{Change, Diff};
use super::{Tags, changed, failed};
use crate::config::Range;
use crate::error::{Error, Result};

/// Requests per task per minute the request policy keeps the service at: a small Python app
/// on a quarter vCPU answers a few dozen a second, so 1,000 a minute (about 17 a second)
/// leaves it headroom.
pub const REQUESTS_PER_TASK_PER_MINUTE: f64 = 1000.0;
/// Average CPU utilization (percent) the CPU policy keeps the service at.
pub const CPU_PERCENT: f64 = 70.0;
/// Seconds after a scale-out before another (short: load that grows is served soon).
pub const SCALE_OUT_COOLDOWN_SECS: i32 = 60;
/// Seconds after a scale-in before another (longer: tasks are not stopped on a lull).
pub const SCALE_IN_COOLDOWN_SECS: i32 = 300;

/// One target tracking policy of the service.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub metric: MetricType,
    /// `app/<lb>/<id>/targetgroup/<tg>/<id>` for the request count; none for CPU.
    pub resource_label: Option<String>,
    pub target: f64,
    pub scale_in_cooldown: i32,
    pub scale_out_cooldown: i32,
}

/// The scalable target and its policies, as wanted or as found.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    pub min: i32,
    pub max: i32,
    pub policies: Vec<Policy>,
}

/// The scalable target's id for the service.
pub fn resource_id(cluster: &str, service: &str) -> String {
    format!("service/{cluster}/{service}")
}

/// The ALB metric's label for a load balancer and target group, from their ARNs
/// (`…:loadbalancer/app/<name>/<id>`, `…:targetgroup/<name>/<id>`).
pub fn resource_label(load_balancer_arn: &str, target_group_arn: &str) -> Result<String> {
    let tail = |arn: &str, marker: &str| {
        arn.split_once(marker).map(|(_, rest)| rest.to_string()).ok_or_else(|| {
            Error::failed(format!("'{arn}' is not an ARN with {marker}: cannot label its metric"))
        })
    };
    let load_balancer = tail(load_balancer_arn, ":loadbalancer/")?;
    let target_group = tail(target_group_arn, ":targetgroup/")?;
    Ok(format!("{load_balancer}/targetgroup/{target_group}"))
}

/// What `range` asks for: the service between min and max, with both policies.
pub fn wanted(resource_id: &str, service: &str, range: Range, label: &str) -> Scaling {
    let policy = |suffix: &str, metric, label: Option<&str>, target| Policy {
        name: format!("{service}-{suffix}"),
        metric,
        resource_label: label.map(str::to_string),
        target,
        scale_in_cooldown: SCALE_IN_COOLDOWN_SECS,
        scale_out_cooldown: SCALE_OUT_COOLDOWN_SECS,
    };
    Scaling {
        resource_id: resource_id.to_string(),
        min: i32::try_from(range.min).unwrap_or(1),
        max: i32::try_from(range.max).unwrap_or(1),
        policies: vec![
            policy(
                "requests",
                MetricType::AlbRequestCountPerTarget,
                Some(label),
                REQUESTS_PER_TASK_PER_MINUTE,
            ),
            policy("cpu", MetricType::EcsServiceAverageCpuUtilization, None, CPU_PERCENT),
        ],
    }
}

/// How a person reads a policy: `requests per task 1000/min`, `CPU 70 %`.
pub fn describe(policy: &Policy) -> String {
    match policy.metric {
        MetricType::AlbRequestCountPerTarget => {
            format!("requests per task {}/min", policy.target)
        }
        MetricType::EcsServiceAverageCpuUtilization => format!("CPU {} %", policy.target),
        ref other => format!("{} {}", other.as_str(), policy.target),
    }
}

/// What differs between what is found and what is wanted (range, then each policy by name).
/// Policies of other names (made by hand beside aws-app's) are theirs: left as they are.
pub fn diff(found: &Scaling, wanted: &Scaling) -> Diff {
    let mut diff = Diff::default();
    diff.compare(
        "range",
        Some(range_text(found.min, found.max)),
        range_text(wanted.min, wanted.max),
    );
    for policy in &wanted.policies {
        match found.policies.iter().find(|p| p.name == policy.name) {
            None => diff.note(format!("policy {} added ({})", policy.name, describe(policy))),
            Some(current) if current != policy => {
                diff.note(format!("policy {} → {}", policy.name, describe_fully(policy)))
            }
            Some(_) => {}
        }
    }
    diff
}

fn describe_fully(policy: &Policy) -> String {
    format!(
        "{}, scale-out cooldown {} s, scale-in cooldown {} s",
        describe(policy),
        policy.scale_out_cooldown,
        policy.scale_in_cooldown
    )
}

/// `1–4 tasks`.
pub fn range_text(min: i32, max: i32) -> String {
    format!("{min}–{max} tasks")
}

/// The scalable target of the service with its target tracking policies, if there is one.
pub async fn find(aas: &Client, resource_id: &str) -> Result<Option<Scaling>> {
    let Some(target) = find_target(aas, resource_id).await? else {
        return Ok(None);
    };
    let answer = aas
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| failed("reading the service's scaling policies", e))?;
    let policies = answer
        .scaling_policies()
        .iter()
        .filter(|p| p.policy_type() == &PolicyType::TargetTrackingScaling)
        .filter_map(|p| {
            let config = p.target_tracking_scaling_policy_configuration()?;
            let metric = config.predefined_metric_specification()?;
            Some(Policy {
                name: p.policy_name().to_string(),
                metric: metric.predefined_metric_type().clone(),
                resource_label: metric.resource_label().map(str::to_string),
                target: config.target_value(),
                scale_in_cooldown: config.scale_in_cooldown().unwrap_or_default(),
                scale_out_cooldown: config.scale_out_cooldown().unwrap_or_default(),
            })
        })
        .collect();
    Ok(Some(Scaling {
        resource_id: resource_id.to_string(),
        min: target.min_capacity(),
        max: target.max_capacity(),
        policies,
    }))
}

async fn find_target(aas: &Client, resource_id: &str) -> Result<Option<ScalableTarget>> {
    let answer = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| failed("finding the service's scalable target", e))?;
    Ok(answer.scalable_targets().iter().find(|t| t.resource_id() == resource_id).cloned())
}

/// What a deploy would do to the service's autoscaling; none when it has none and gets none.
pub fn plan(found: Option<&Scaling>, wanted: Option<&Scaling>) -> Option<Change> {
    let what = |id: &str| format!("autoscaling {id}");
    match (found, wanted) {
        (None, None) => None,
        (Some(found), None) => {
            Some(Change::new(what(&found.resource_id), super::change::Action::Delete))
        }
        (found, Some(wanted)) => {
            let diff = found.map(|f| diff(f, wanted)).unwrap_or_default();
            Some(Change::from_diff(what(&wanted.resource_id), found.is_some(), diff))
        }
    }
}

/// Registers the service as a scalable target of `wanted`'s range and puts its policies, when
/// they differ from what is there. Whether anything was written.
pub async fn ensure(aas: &Client, wanted: &Scaling, tags: &Tags) -> Result<bool> {
    let found = find(aas, &wanted.resource_id).await?;
    if found.as_ref().is_some_and(|f| diff(f, wanted).is_empty()) {
        return Ok(false);
    }
    let range_differs = found.as_ref().is_none_or(|f| (f.min, f.max) != (wanted.min, wanted.max));
    if range_differs {
        let mut register = aas
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&wanted.resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(wanted.min)
            .max_capacity(wanted.max);
        // Tags are taken when the target is registered, not when it is updated.
        if found.is_none() {
            for (key, value) in tags.pairs() {
                register = register.tags(key, value);
            }
        }
        register.send().await.map_err(|e| failed("registering the service for autoscaling", e))?;
    }
    for policy in &wanted.policies {
        let current =
            found.as_ref().and_then(|f| f.policies.iter().find(|p| p.name == policy.name));
        if current != Some(policy) {
            put_policy(aas, &wanted.resource_id, policy).await?;
        }
    }
    Ok(true)
}

async fn put_policy(aas: &Client, resource_id: &str, policy: &Policy) -> Result<()> {
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(policy.metric.clone())
        .set_resource_label(policy.resource_label.clone())
        .build()
        .map_err(|e| Error::failed(format!("scaling metric: {e}")))?;
    let configuration = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(policy.target)
        .predefined_metric_specification(metric)
        .scale_in_cooldown(policy.scale_in_cooldown)
        .scale_out_cooldown(policy.scale_out_cooldown)
        .disable_scale_in(false)
        .build()
        .map_err(|e| Error::failed(format!("scaling policy: {e}")))?;
    aas.put_scaling_policy()
        .policy_name(&policy.name)
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(configuration)
        .send()
        .await
        .map_err(|e| failed(&format!("putting the scaling policy {}", policy.name), e))?;
    Ok(())
}

/// Deregisters the service's scalable target (its policies and their alarms go with it); false
/// when there was none.
pub async fn delete(aas: &Client, resource_id: &str) -> Result<bool> {
    let answer = aas
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await;
    changed("removing the service's autoscaling", answer, |e| e.is_object_not_found_exception())
}

/// The most recent scaling activities of the service, newest first.
pub async fn activities(
    aas: &Client,
    resource_id: &str,
    at_most: i32,
) -> Result<Vec<ScalingActivity>> {
    let answer = aas
        .describe_scaling_activities()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .max_results(at_most)
        .send()
        .await
        .map_err(|e| failed("reading the service's scaling activities", e))?;
    let mut activities = answer.scaling_activities().to_vec();
    let at = |a: &ScalingActivity| (a.start_time().secs(), a.start_time().subsec_nanos());
    activities.sort_by_key(|a| std::cmp::Reverse(at(a)));
    Ok(activities)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/ann-aws-app/50dc6c495c0c9188";
    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ann-aws-app-tg/73e2d6bc24d8a067";

    #[test]
    fn the_request_metric_is_labelled_with_the_load_balancer_and_target_group() {
        assert_eq!(
            resource_label(LB, TG).expect("two ARNs"),
            "app/ann-aws-app/50dc6c495c0c9188/targetgroup/ann-aws-app-tg/73e2d6bc24d8a067"
        );
        assert!(resource_label("not-an-arn", TG).is_err());
    }

    #[test]
    fn scaling_out_is_faster_than_scaling_in() {
        let label = resource_label(LB, TG).expect("label");
        let id = resource_id("ann-aws-app", "ann-aws-app");
        let wanted = wanted(&id, "ann-aws-app", Range { min: 1, max: 4 }, &label);
        assert_eq!(wanted.resource_id, "service/ann-aws-app/ann-aws-app");
        assert_eq!(wanted.policies.len(), 2);
        for policy in &wanted.policies {
            assert!(policy.scale_in_cooldown > policy.scale_out_cooldown, "{policy:?}");
        }
        assert_eq!(wanted.policies[0].resource_label.as_deref(), Some(label.as_str()));
        assert_eq!(wanted.policies[1].resource_label, None);
    }

    #[test]
    fn differences_name_the_range_and_each_policy() {
        let id = resource_id("c", "s");
        let wanted = wanted(&id, "s", Range { min: 1, max: 4 }, "app/a/1/targetgroup/t/2");
        assert!(diff(&wanted, &wanted).is_empty());
        let mut found = wanted.clone();
        found.min = 2;
        found.policies[1].target = 50.0;
        found.policies.remove(0);
        // A policy made by hand beside aws-app's is left alone.
        found.policies.push(Policy { name: "by-hand".into(), ..wanted.policies[1].clone() });
        assert_eq!(
            diff(&found, &wanted).0,
            [
                "range 2–4 tasks → 1–4 tasks",
                "policy s-requests added (requests per task 1000/min)",
                "policy s-cpu → CPU 70 %, scale-out cooldown 60 s, scale-in cooldown 300 s",
            ]
        );
        let gone = plan(Some(&found), None).expect("a change");
        assert_eq!(gone.word(), "delete");
        assert_eq!(plan(None, None), None);
        assert_eq!(plan(None, Some(&wanted)).map(|c| c.word()), Some("create"));
    }
}
