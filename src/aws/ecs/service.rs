//! The service behind the target group, with the deployment circuit breaker.

use super::*;

/// Where and how the service runs.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub cluster: String,
    pub name: String,
    pub task_definition: String,
    /// The count a new service starts at, and the count of a service that is not autoscaled.
    pub desired_count: i32,
    /// `(min, max)` when autoscaled: the count found is kept (brought into the range if outside).
    pub range: Option<(i32, i32)>,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub target_group_arn: String,
    pub port: u16,
}

impl ServiceSpec {
    /// The desired count a service that runs `current` tasks gets: the spec's, or, autoscaled,
    /// the current one within the range (the policies own it).
    pub fn desired_for(&self, current: i32) -> i32 {
        match self.range {
            Some((min, max)) => current.clamp(min, max),
            None => self.desired_count,
        }
    }
}

/// What `ensure_service` did.
#[derive(Debug, Clone)]
pub struct ServiceChange {
    /// The deployment to follow: the one this run started, or one still rolling out.
    pub deployment_id: Option<String>,
    /// Whether this run created or updated the service.
    pub changed: bool,
}

/// The service's network: its subnets and security group, awsvpc with a public IP.
fn network_configuration(spec: &ServiceSpec) -> Result<NetworkConfiguration> {
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(spec.subnets.clone()))
                .security_groups(&spec.security_group)
                // Public subnets, no NAT: the task needs a public IP to pull its image.
                .assign_public_ip(AssignPublicIp::Enabled)
                .build()
                .map_err(|e| Error::failed(format!("network configuration: {e}")))?,
        )
        .build())
}

/// The service of this name when it is ACTIVE (a deleted one stays DRAINING, then INACTIVE),
/// with its tags; none when the cluster is not there either.
pub async fn find_service(
    ecs: &Client,
    cluster: &str,
    name: &str,
) -> Result<Option<types::Service>> {
    let answer = ecs
        .describe_services()
        .cluster(cluster)
        .services(name)
        .include(types::ServiceField::Tags)
        .send()
        .await;
    let out = found("finding the ECS service", answer, |e| e.is_cluster_not_found_exception())?;
    Ok(out.and_then(|o| {
        o.services.unwrap_or_default().into_iter().find(|s| s.status() == Some("ACTIVE"))
    }))
}

/// The deployment ECS is moving the service to.
pub fn primary_deployment(service: &types::Service) -> Option<&types::Deployment> {
    service.deployments().iter().find(|d| d.status() == Some("PRIMARY"))
}

/// `family:revision` of a task definition ARN, as people name a revision.
pub fn short_revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What differs between the service and `spec`: task definition, desired count, network.
pub fn service_diff(service: &types::Service, spec: &ServiceSpec) -> Diff {
    let mut diff = Diff::default();
    diff.compare(
        "task definition",
        service.task_definition().map(short_revision),
        short_revision(&spec.task_definition),
    );
    let current = service.desired_count();
    diff.compare("desired count", Some(current), spec.desired_for(current));
    let awsvpc = service.network_configuration().and_then(|n| n.awsvpc_configuration());
    let mut subnets: Vec<&str> =
        awsvpc.map(|a| a.subnets().iter().map(String::as_str).collect()).unwrap_or_default();
    subnets.sort_unstable();
    let mut wanted: Vec<&str> = spec.subnets.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    diff.compare("subnets", Some(subnets.join(",")), wanted.join(","));
    diff.compare(
        "security groups",
        awsvpc.map(|a| a.security_groups().join(",")),
        spec.security_group.clone(),
    );
    diff
}

/// Creates the service, or updates it when its task definition, desired count or network
/// (subnets, security group) differ.
pub async fn ensure_service(
    ecs: &Client,
    spec: &ServiceSpec,
    tags: &Tags,
) -> Result<ServiceChange> {
    if let Some(service) = find_service(ecs, &spec.cluster, &spec.name).await? {
        let same = service_diff(&service, spec).is_empty();
        if same {
            let primary = primary_deployment(&service);
            let state = primary.and_then(|d| d.rollout_state()).map(|s| s.as_str());
            match state {
                // An interrupted run's rollout: follow it.
                Some("IN_PROGRESS") => {
                    let id = primary.and_then(|d| d.id()).map(str::to_string);
                    return Ok(ServiceChange { deployment_id: id, changed: false });
                }
                // This revision failed to roll out before: try it once more, visibly.
                Some("FAILED") => {
                    say("the last rollout of this revision failed; starting a new deployment");
                    let request = ecs
                        .update_service()
                        .cluster(&spec.cluster)
                        .service(&spec.name)
                        .force_new_deployment(true);
                    let updated = retry_while("restarting the rollout", role_not_ready, || {
                        request.clone().send()
                    })
                    .await?;
                    return Ok(ServiceChange {
                        deployment_id: primary_of(updated.service.as_ref()),
                        changed: true,
                    });
                }
                _ => return Ok(ServiceChange { deployment_id: None, changed: false }),
            }
        }
        // An autoscaled service's count is left as it is unless it is outside the range.
        let current = service.desired_count();
        let desired =
            Some(spec.desired_for(current)).filter(|d| spec.range.is_none() || *d != current);
        let updated = ecs
            .update_service()
            .cluster(&spec.cluster)
            .service(&spec.name)
            .task_definition(&spec.task_definition)
            .set_desired_count(desired)
            .network_configuration(network_configuration(spec)?)
            .deployment_configuration(deployment_configuration())
            .health_check_grace_period_seconds(HEALTH_CHECK_GRACE_SECS);
        let updated =
            retry_while("updating the ECS service", role_not_ready, || updated.clone().send())
                .await?;
        return Ok(ServiceChange {
            deployment_id: primary_of(updated.service.as_ref()),
            changed: true,
        });
    }

    let network = network_configuration(spec)?;
    let created = ecs
        .create_service()
        .cluster(&spec.cluster)
        .service_name(&spec.name)
        .task_definition(&spec.task_definition)
        .desired_count(spec.desired_count)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network)
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(&spec.target_group_arn)
                .container_name(CONTAINER)
                .container_port(i32::from(spec.port))
                .build(),
        )
        .health_check_grace_period_seconds(HEALTH_CHECK_GRACE_SECS)
        .deployment_configuration(deployment_configuration())
        .propagate_tags(PropagateTags::Service)
        .enable_ecs_managed_tags(true)
        .set_tags(Some(ecs_tags(tags)));
    // A service of this name deleted a moment ago (a destroy, then a deploy) drains for minutes.
    let settling = |code: Option<&str>, message: Option<&str>| {
        role_not_ready(code, message) || still_draining(code, message)
    };
    let created = retry_for(
        "creating the ECS service",
        Duration::from_secs(15 * 60),
        Duration::from_secs(3),
        settling,
        || created.clone().send(),
    )
    .await?;
    Ok(ServiceChange { deployment_id: primary_of(created.service.as_ref()), changed: true })
}

/// CreateService refused because the service of that name, deleted a moment ago, still stops
/// its tasks ("Unable to Start a service that is still Draining.").
fn still_draining(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("InvalidParameterException") && message.is_some_and(|m| m.contains("Draining"))
}

/// Rolling update with the circuit breaker: a new task first (200 %), the old one stays until
/// the new one is healthy (100 %); a deployment that cannot get healthy tasks rolls back.
fn deployment_configuration() -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder().enable(true).rollback(true).build(),
        )
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        .build()
}

fn primary_of(service: Option<&aws_sdk_ecs::types::Service>) -> Option<String> {
    primary_deployment(service?).and_then(|d| d.id().map(str::to_string))
}

/// Scales the service to zero (its tasks stop), then deletes it.
pub async fn delete_service(ecs: &Client, cluster: &str, name: &str) -> Result<()> {
    ecs.update_service()
        .cluster(cluster)
        .service(name)
        .desired_count(0)
        .send()
        .await
        .map_err(|e| failed("scaling the service to zero", e))?;
    ecs.delete_service()
        .cluster(cluster)
        .service(name)
        .force(true)
        .send()
        .await
        .map_err(|e| failed("deleting the ECS service", e))?;
    Ok(())
}

#[cfg(test)]
mod diff_tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec {
            cluster: "ann-aws-app".into(),
            name: "ann-aws-app".into(),
            task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/ann-aws-app:2"
                .into(),
            desired_count: 1,
            range: None,
            subnets: vec!["subnet-1".into(), "subnet-2".into()],
            security_group: "sg-1".into(),
            target_group_arn: "arn:tg".into(),
            port: 8000,
        }
    }

    fn service(task_definition: &str, count: i32, subnets: &[&str], group: &str) -> types::Service {
        let awsvpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(subnets.iter().map(|s| s.to_string()).collect()))
            .security_groups(group)
            .build()
            .expect("awsvpc");
        types::Service::builder()
            .task_definition(task_definition)
            .desired_count(count)
            .network_configuration(
                NetworkConfiguration::builder().awsvpc_configuration(awsvpc).build(),
            )
            .build()
    }

    #[test]
    fn a_service_differs_in_revision_count_and_network_not_in_subnet_order() {
        let spec = spec();
        let td = spec.task_definition.as_str();
        let cases: [(&str, types::Service, &[&str]); 5] = [
            ("as deployed", service(td, 1, &["subnet-1", "subnet-2"], "sg-1"), &[]),
            (
                "subnets listed in another order",
                service(td, 1, &["subnet-2", "subnet-1"], "sg-1"),
                &[],
            ),
            (
                "an older revision",
                service(&td.replace(":2", ":1"), 1, &["subnet-1", "subnet-2"], "sg-1"),
                &["task definition ann-aws-app:1 → ann-aws-app:2"],
            ),
            (
                "scaled by hand",
                service(td, 3, &["subnet-1", "subnet-2"], "sg-1"),
                &["desired count 3 → 1"],
            ),
            (
                "another network",
                service(td, 1, &["subnet-9"], "sg-9"),
                &["subnets subnet-9 → subnet-1,subnet-2", "security groups sg-9 → sg-1"],
            ),
        ];
        for (case, service, wanted) in cases {
            assert_eq!(service_diff(&service, &spec).0, wanted, "{case}");
        }
    }

    #[test]
    fn an_autoscaled_service_keeps_its_count_unless_it_is_outside_the_range() {
        let spec = ServiceSpec { range: Some((2, 4)), ..spec() };
        let td = spec.task_definition.as_str();
        let subnets = ["subnet-1", "subnet-2"];
        for (count, wanted) in [
            (3, &[][..]),
            (4, &[][..]),
            (1, &["desired count 1 → 2"][..]),
            (6, &["desired count 6 → 4"][..]),
        ] {
            let service = service(td, count, &subnets, "sg-1");
            assert_eq!(service_diff(&service, &spec).0, wanted, "{count} tasks");
        }
    }
}
