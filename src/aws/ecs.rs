//! The service: cluster, task definition (Fargate, awsvpc, the image by digest, the image's CPU
//! architecture, awslogs), and a service behind the target group with the deployment circuit
//! breaker. A rollout is followed through the `rolloutState` of the deployment this run started,
//! never through "services stable": a service that is stable again on the previous revision after
//! a rollback is a failed deploy.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, CpuArchitecture,
    DeploymentCircuitBreaker, DeploymentConfiguration, DesiredStatus, LaunchType, LoadBalancer,
    LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, OsFamily, PortMapping,
    PropagateTags, RuntimePlatform, Tag, TransportProtocol,
};

use super::{Tags, failed, retry_for, retry_while};
use crate::error::{Error, Result};
use crate::say;

/// The container's name in the task definition (and in the load balancer attachment).
pub const CONTAINER: &str = "app";
/// Seconds ECS ignores failing load balancer health checks of a new task (gunicorn boots in
/// about a second; the first checks may still race it).
pub const HEALTH_CHECK_GRACE_SECS: i32 = 30;

/// What the task definition must say.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub family: String,
    /// `registry/repo@sha256:…`
    pub image: String,
    pub cpu: u32,
    pub memory: u32,
    /// Docker's architecture name of the image (`amd64`, `arm64`).
    pub architecture: String,
    pub execution_role_arn: String,
    pub log_group: String,
    pub region: String,
    pub port: u16,
    /// The commit the image was built from: `status` and `redeploy` read it back.
    pub commit: String,
    /// What this run knows of the build, as container labels (`*_LABEL` below and `image::lock::*_LABEL`): the page it
    /// served in its smoke test (so a later run that builds nothing can still check the URL
    /// serves this build), the commit's time, the build inputs. None: the image was not built by
    /// this run; keep what the current revision says of it.
    pub labels: Option<HashMap<String, String>>,
}

/// The container label holding the smoke-tested page's fingerprint.
pub const PAGE_LABEL: &str = "dev.aws-app.page";
/// The container label holding the commit the image was built from.
pub const COMMIT_LABEL: &str = "dev.aws-app.commit";
/// The container label holding the commit's time.
pub const COMMIT_TIME_LABEL: &str = "dev.aws-app.commit-time";

/// What `ensure_task_definition` settled on.
#[derive(Debug, Clone)]
pub struct TaskDefinition {
    pub arn: String,
    /// Registered by this run.
    pub registered: bool,
    /// The page fingerprint the revision carries.
    pub page: Option<String>,
    /// The container's labels (commit, page, build inputs).
    pub labels: HashMap<String, String>,
}

impl TaskSpec {
    fn cpu_architecture(&self) -> Result<CpuArchitecture> {
        match self.architecture.as_str() {
            "amd64" | "x86_64" => Ok(CpuArchitecture::X8664),
            "arm64" | "aarch64" => Ok(CpuArchitecture::Arm64),
            other => Err(Error::failed(format!(
                "the image is built for {other}; Fargate runs amd64 (X86_64) and arm64 (ARM64) only"
            ))),
        }
    }
}

fn ecs_tags(tags: &Tags) -> Vec<Tag> {
    tags.pairs().into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Finds the cluster (ACTIVE) or creates it; returns its ARN.
pub async fn ensure_cluster(ecs: &Client, name: &str, tags: &Tags) -> Result<String> {
    let out = ecs
        .describe_clusters()
        .clusters(name)
        .send()
        .await
        .map_err(|e| failed("finding the ECS cluster", e))?;
    if let Some(arn) =
        out.clusters().iter().find(|c| c.status() == Some("ACTIVE")).and_then(|c| c.cluster_arn())
    {
        return Ok(arn.to_string());
    }
    // In a new account, ECS's service-linked role made a moment ago is not usable at once
    // ("Unable to assume the service linked role").
    let create = ecs.create_cluster().cluster_name(name).set_tags(Some(ecs_tags(tags)));
    retry_while("creating the ECS cluster", role_not_ready, || create.clone().send())
        .await?
        .cluster
        .and_then(|c| c.cluster_arn)
        .ok_or_else(|| Error::failed("creating the ECS cluster: no ARN in the answer"))
}

/// The latest revision of the family when it already says what `spec` says; otherwise a new
/// revision. Returns its ARN and whether it was registered now.
pub async fn ensure_task_definition(
    ecs: &Client,
    spec: &TaskSpec,
    tags: &Tags,
) -> Result<TaskDefinition> {
    let architecture = spec.cpu_architecture()?;
    let current = match ecs.describe_task_definition().task_definition(&spec.family).send().await {
        Ok(out) => out.task_definition,
        // No revision of the family yet: ECS answers with a client error.
        Err(e) if e.as_service_error().is_some_and(|s| s.is_client_exception()) => None,
        Err(e) => return Err(failed("reading the task definition", e)),
    };
    let current = current.filter(|td| td.status().map(|s| s.as_str()) == Some("ACTIVE"));
    let container = current.as_ref().and_then(|c| c.container_definitions().first());
    let current_labels = container.and_then(|c| c.docker_labels()).cloned().unwrap_or_default();
    let same_image = container.and_then(|c| c.image()) == Some(spec.image.as_str());
    if let Some(current) = &current {
        let same = labels_current(spec.labels.as_ref(), &current_labels)
            && current_labels.get(COMMIT_LABEL) == Some(&spec.commit)
            && current.cpu() == Some(spec.cpu.to_string().as_str())
            && current.memory() == Some(spec.memory.to_string().as_str())
            && current.execution_role_arn() == Some(spec.execution_role_arn.as_str())
            && current.runtime_platform().and_then(|p| p.cpu_architecture()) == Some(&architecture)
            && same_image
            && container.and_then(|c| c.name()) == Some(CONTAINER)
            && container.is_some_and(|c| {
                c.port_mappings().iter().any(|p| p.container_port() == Some(i32::from(spec.port)))
            })
            && container
                .and_then(|c| c.log_configuration())
                .and_then(|l| l.options())
                .and_then(|o| o.get("awslogs-group"))
                == Some(&spec.log_group);
        if same && let Some(arn) = current.task_definition_arn() {
            let page = current_labels.get(PAGE_LABEL).cloned();
            let arn = arn.to_string();
            return Ok(TaskDefinition { arn, registered: false, page, labels: current_labels });
        }
    }

    let logs = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .set_options(Some(HashMap::from([
            ("awslogs-group".to_string(), spec.log_group.clone()),
            ("awslogs-region".to_string(), spec.region.clone()),
            ("awslogs-stream-prefix".to_string(), CONTAINER.to_string()),
        ])))
        .build()
        .map_err(|e| Error::failed(format!("log configuration: {e}")))?;
    // Labels of this build; an image this run did not build keeps what the revision that runs
    // it says (a new revision for another size, say, still knows its page and inputs).
    let mut labels = match (&spec.labels, same_image) {
        (Some(labels), _) => labels.clone(),
        (None, true) => current_labels,
        (None, false) => HashMap::new(),
    };
    labels.insert(COMMIT_LABEL.to_string(), spec.commit.clone());
    let page = labels.get(PAGE_LABEL).cloned();
    let container = ContainerDefinition::builder()
        .name(CONTAINER)
        .image(&spec.image)
        .set_docker_labels(Some(labels.clone()))
        .essential(true)
        .port_mappings(
            PortMapping::builder()
                .container_port(i32::from(spec.port))
                .protocol(TransportProtocol::Tcp)
                .build(),
        )
        .log_configuration(logs)
        .build();
    let registered = ecs
        .register_task_definition()
        .family(&spec.family)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu(spec.cpu.to_string())
        .memory(spec.memory.to_string())
        .execution_role_arn(&spec.execution_role_arn)
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(architecture)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .container_definitions(container)
        .set_tags(Some(ecs_tags(tags)));
    let registered = retry_while("registering the task definition", role_not_ready, || {
        registered.clone().send()
    })
    .await?;
    let arn = registered
        .task_definition
        .and_then(|td| td.task_definition_arn)
        .ok_or_else(|| Error::failed("registering the task definition: no ARN in the answer"))?;
    Ok(TaskDefinition { arn, registered: true, page, labels })
}

/// Whether the current revision's labels already say what this run knows of the build.
fn labels_current(
    wanted: Option<&HashMap<String, String>>,
    current: &HashMap<String, String>,
) -> bool {
    wanted.is_none_or(|wanted| wanted.iter().all(|(k, v)| current.get(k) == Some(v)))
}

/// Where and how the service runs.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub cluster: String,
    pub name: String,
    pub task_definition: String,
    pub desired_count: i32,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub target_group_arn: String,
    pub port: u16,
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

/// Creates the service, or updates it when its task definition, desired count or network
/// (subnets, security group) differ.
pub async fn ensure_service(
    ecs: &Client,
    spec: &ServiceSpec,
    tags: &Tags,
) -> Result<ServiceChange> {
    let out = ecs
        .describe_services()
        .cluster(&spec.cluster)
        .services(&spec.name)
        .send()
        .await
        .map_err(|e| failed("finding the ECS service", e))?;
    let existing = out.services().iter().find(|s| s.status() == Some("ACTIVE"));
    if let Some(service) = existing {
        let awsvpc = service.network_configuration().and_then(|n| n.awsvpc_configuration());
        let mut subnets: Vec<&str> =
            awsvpc.map(|a| a.subnets().iter().map(String::as_str).collect()).unwrap_or_default();
        subnets.sort_unstable();
        let mut wanted: Vec<&str> = spec.subnets.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        let same_network = subnets == wanted
            && awsvpc.map(|a| a.security_groups())
                == Some(std::slice::from_ref(&spec.security_group));
        let same = service.task_definition() == Some(spec.task_definition.as_str())
            && service.desired_count() == spec.desired_count
            && same_network;
        if same {
            let primary = service.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
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
        let updated = ecs
            .update_service()
            .cluster(&spec.cluster)
            .service(&spec.name)
            .task_definition(&spec.task_definition)
            .desired_count(spec.desired_count)
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

/// ECS refusing a just-created execution role (IAM is eventually consistent: "ECS was unable
/// to assume the role"). AWS gives that refusal no error code of its own, so the generic code and
/// the message's subject are both checked.
fn role_not_ready(code: Option<&str>, message: Option<&str>) -> bool {
    matches!(code, Some("ClientException" | "InvalidParameterException"))
        && message.is_some_and(|m| m.contains("assume"))
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
    service?
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.id().map(str::to_string))
}

/// Follows one deployment until its rollout completes, fails, is rolled back, or the deadline
/// passes. Failure carries the reason, stopped tasks' reasons and the app's last log lines.
pub async fn wait_rollout(
    ecs: &Client,
    logs: &aws_sdk_cloudwatchlogs::Client,
    spec: &ServiceSpec,
    log_group: &str,
    deployment_id: &str,
    deadline: Duration,
) -> Result<()> {
    let started = Instant::now();
    let mut delay = Duration::from_secs(2);
    let mut last_report = String::new();
    loop {
        let out = ecs
            .describe_services()
            .cluster(&spec.cluster)
            .services(&spec.name)
            .send()
            .await
            .map_err(|e| failed("reading the rollout", e))?;
        let service = out
            .services()
            .iter()
            .find(|s| s.status() == Some("ACTIVE"))
            .ok_or_else(|| Error::failed(format!("the service {} is gone", spec.name)))?;
        let deployment = service.deployments().iter().find(|d| d.id() == Some(deployment_id));
        let why_failed = match deployment {
            None => Some(format!(
                "deployment {deployment_id} was replaced (rolled back by the circuit breaker, or \
                 another deploy started)"
            )),
            Some(d) => match d.rollout_state().map(|s| s.as_str()) {
                Some("COMPLETED") => return Ok(()),
                Some("FAILED") => Some(format!(
                    "the rollout failed: {}",
                    d.rollout_state_reason().unwrap_or("no reason given")
                )),
                _ => {
                    let report = format!(
                        "rollout in progress: {} running, {} pending of {} (failed tasks: {})",
                        d.running_count(),
                        d.pending_count(),
                        d.desired_count(),
                        d.failed_tasks()
                    );
                    if report != last_report {
                        say(&report);
                        last_report = report;
                    }
                    None
                }
            },
        };
        if let Some(why) = why_failed {
            let detail = diagnose(ecs, logs, spec, log_group, deployment_id).await;
            return Err(Error::commit_failed(why).with_detail(detail));
        }
        if started.elapsed() > deadline {
            let detail = diagnose(ecs, logs, spec, log_group, deployment_id).await;
            return Err(Error::commit_failed(format!(
                "the rollout did not complete within {} min ({last_report})",
                deadline.as_secs() / 60
            ))
            .with_detail(detail));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(Duration::from_secs(10));
    }
}

/// Why this deployment's tasks stopped, and what they last logged: what an operator looks at
/// first. Tasks of other deployments (drained on purpose) are left out.
async fn diagnose(
    ecs: &Client,
    logs: &aws_sdk_cloudwatchlogs::Client,
    spec: &ServiceSpec,
    log_group: &str,
    deployment_id: &str,
) -> String {
    let mut lines = Vec::new();
    // The service's stopped tasks (ListTasks takes `startedBy` only as its one filter: the
    // deployment's are picked from these below).
    let mut pages = ecs
        .list_tasks()
        .cluster(&spec.cluster)
        .service_name(&spec.name)
        .desired_status(DesiredStatus::Stopped)
        .into_paginator()
        .send();
    let mut stopped: Vec<String> = Vec::new();
    // ECS keeps stopped tasks for about an hour: three pages are more than a deployment has.
    for _ in 0..3 {
        match pages.next().await {
            Some(Ok(page)) => stopped.extend(page.task_arns.unwrap_or_default()),
            _ => break,
        }
    }
    let mut tasks = Vec::new();
    for chunk in stopped.chunks(100) {
        if let Ok(out) =
            ecs.describe_tasks().cluster(&spec.cluster).set_tasks(Some(chunk.to_vec())).send().await
        {
            tasks.extend(out.tasks.unwrap_or_default());
        }
    }
    tasks.retain(|t| t.started_by() == Some(deployment_id));
    // The most recent first.
    tasks.sort_by_key(|t| std::cmp::Reverse(t.stopped_at().map(|d| d.secs())));
    for task in tasks.iter().take(3) {
        let id = task.task_arn().and_then(|a| a.rsplit('/').next()).unwrap_or("?");
        lines.push(format!(
            "stopped task {id}: {}",
            task.stopped_reason().unwrap_or("no reason given")
        ));
        for c in task.containers() {
            if c.reason().is_some() || c.exit_code().is_some() {
                lines.push(format!(
                    "  container {}: exit code {}, {}",
                    c.name().unwrap_or("?"),
                    c.exit_code().map_or("none".to_string(), |x| x.to_string()),
                    c.reason().unwrap_or("no reason given")
                ));
            }
        }
    }
    // The newest task's own log stream (awslogs: <prefix>/<container>/<task id>): its last 30
    // lines, after the app's first traceback when the shutdown noise pushed it out of them.
    if let Some(id) = tasks.first().and_then(|t| t.task_arn()).and_then(|a| a.rsplit('/').next()) {
        let stream = format!("{CONTAINER}/{CONTAINER}/{id}");
        if let Ok(out) = logs
            .get_log_events()
            .log_group_name(log_group)
            .log_stream_name(&stream)
            .start_from_head(false)
            .limit(500)
            .send()
            .await
            && !out.events().is_empty()
        {
            lines.push(format!("last log lines of task {id}:"));
            let text: Vec<&str> =
                out.events().iter().map(|e| e.message().unwrap_or("").trim_end()).collect();
            for line in crate::image::app_lines(&text.join("\n"), 30).lines() {
                lines.push(format!("  {line}"));
            }
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    //! Rollout paths moto cannot produce (it never fails a deployment), against mocked answers.
    use super::*;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
    use aws_sdk_ecs::types::{Container, Deployment, DeploymentRolloutState, Service, Task};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn spec() -> ServiceSpec {
        ServiceSpec {
            cluster: "ann-aws-app".into(),
            name: "ann-aws-app".into(),
            task_definition: "arn:td:2".into(),
            desired_count: 1,
            subnets: vec!["subnet-1".into(), "subnet-2".into()],
            security_group: "sg-1".into(),
            target_group_arn: "arn:tg".into(),
            port: 8000,
        }
    }

    fn services(deployments: Vec<Deployment>) -> DescribeServicesOutput {
        DescribeServicesOutput::builder()
            .services(
                Service::builder()
                    .service_name("ann-aws-app")
                    .status("ACTIVE")
                    .set_deployments(Some(deployments))
                    .build(),
            )
            .build()
    }

    fn deployment(
        id: &str,
        status: &str,
        state: DeploymentRolloutState,
        reason: &str,
    ) -> Deployment {
        Deployment::builder()
            .id(id)
            .status(status)
            .rollout_state(state)
            .rollout_state_reason(reason)
            .desired_count(1)
            .build()
    }

    fn logs_client() -> aws_sdk_cloudwatchlogs::Client {
        let events = mock!(aws_sdk_cloudwatchlogs::Client::get_log_events)
            .match_requests(|r| r.log_stream_name() == Some("app/app/abc123"))
            .then_output(|| {
                aws_sdk_cloudwatchlogs::operation::get_log_events::GetLogEventsOutput::builder()
                    .events(
                        aws_sdk_cloudwatchlogs::types::OutputLogEvent::builder()
                            .message("ImportError: cannot import name 'url_quote'")
                            .build(),
                    )
                    .build()
            });
        mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, &[&events])
    }

    fn stopped_task_rules() -> Vec<aws_smithy_mocks::Rule> {
        vec![
            mock!(Client::list_tasks)
                .match_requests(|r| r.started_by().is_none() && r.service_name().is_some())
                .then_output(|| {
                    ListTasksOutput::builder()
                        .task_arns("arn:task/c/abc123")
                        .task_arns("arn:task/c/other")
                        .build()
                }),
            mock!(Client::describe_tasks).then_output(|| {
                DescribeTasksOutput::builder()
                    .tasks(
                        Task::builder()
                            .task_arn("arn:task/c/other")
                            .started_by("ecs-svc/1")
                            .stopped_reason("Scaling activity initiated by deployment ecs-svc/2")
                            .build(),
                    )
                    .tasks(
                        Task::builder()
                            .task_arn("arn:task/c/abc123")
                            .started_by("ecs-svc/2")
                            .stopped_reason("Essential container in task exited")
                            .containers(
                                Container::builder()
                                    .name("app")
                                    .exit_code(3)
                                    .reason("boot")
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            }),
        ]
    }

    async fn wait(ecs: &Client) -> Result<()> {
        wait_rollout(
            ecs,
            &logs_client(),
            &spec(),
            "/aws-app/ann",
            "ecs-svc/2",
            Duration::from_secs(60),
        )
        .await
    }

    #[tokio::test]
    async fn a_failed_rollout_fails_with_reasons_and_logs() {
        let failed = mock!(Client::describe_services).then_output(|| {
            services(vec![deployment(
                "ecs-svc/2",
                "PRIMARY",
                DeploymentRolloutState::Failed,
                "tasks failed to start",
            )])
        });
        let mut rules = vec![failed];
        rules.extend(stopped_task_rules());
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, rules.iter());
        let err = wait(&ecs).await.expect_err("a FAILED rollout is a failure");
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.message, "the rollout failed: tasks failed to start");
        let detail = err.detail.expect("detail");
        assert!(
            detail.contains("stopped task abc123: Essential container in task exited"),
            "{detail}"
        );
        assert!(detail.contains("container app: exit code 3, boot"), "{detail}");
        assert!(!detail.contains("Scaling activity"), "another deployment's task: {detail}");
        assert!(detail.contains("ImportError: cannot import name 'url_quote'"), "{detail}");
    }

    #[tokio::test]
    async fn stable_on_the_previous_revision_after_a_rollback_is_a_failure() {
        // The circuit breaker rolled back: our deployment is gone, an older one is PRIMARY and
        // COMPLETED. ECS calls the service stable; the deploy failed.
        let rolled_back = mock!(Client::describe_services).then_output(|| {
            services(vec![deployment(
                "ecs-svc/1",
                "PRIMARY",
                DeploymentRolloutState::Completed,
                "rolled back",
            )])
        });
        let mut rules = vec![rolled_back];
        rules.extend(stopped_task_rules());
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, rules.iter());
        let err = wait(&ecs).await.expect_err("a rollback is a failure");
        assert!(err.message.contains("deployment ecs-svc/2 was replaced"), "{}", err.message);
    }

    #[tokio::test]
    async fn throttling_is_retried_not_fatal() {
        let throttled_then_done = mock!(Client::describe_services)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string()),
            )
            .times(2)
            .output(|| {
                services(vec![deployment(
                    "ecs-svc/2",
                    "PRIMARY",
                    DeploymentRolloutState::Completed,
                    "done",
                )])
            })
            .build();
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, &[&throttled_then_done], |c| {
            c.retry_config(crate::aws::retry_config())
        });
        wait(&ecs).await.expect("throttling is retried by the client");
    }

    #[tokio::test]
    async fn a_just_created_role_refused_by_ecs_is_retried() {
        use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionError;
        use aws_sdk_ecs::operation::register_task_definition::{
            RegisterTaskDefinitionError, RegisterTaskDefinitionOutput,
        };
        use aws_sdk_ecs::types::TaskDefinition;
        use aws_sdk_ecs::types::error::ClientException;
        let no_family = mock!(Client::describe_task_definition).then_error(|| {
            DescribeTaskDefinitionError::ClientException(
                ClientException::builder().message("Unable to describe task definition.").build(),
            )
        });
        let refused_then_ok = mock!(Client::register_task_definition)
            .sequence()
            .error(|| {
                // As the SDK parses ECS's answer: the code travels in the error's metadata.
                let message = "ECS was unable to assume the role 'arn:aws:iam::1:role/r'";
                RegisterTaskDefinitionError::ClientException(
                    ClientException::builder()
                        .message(message)
                        .meta(
                            aws_smithy_types::error::ErrorMetadata::builder()
                                .code("ClientException")
                                .message(message)
                                .build(),
                        )
                        .build(),
                )
            })
            .output(|| {
                RegisterTaskDefinitionOutput::builder()
                    .task_definition(
                        TaskDefinition::builder().task_definition_arn("arn:td:1").build(),
                    )
                    .build()
            })
            .build();
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&no_family, &refused_then_ok]);
        let spec = TaskSpec {
            family: "ann-aws-app".into(),
            image: "r/ann-aws-app@sha256:1".into(),
            cpu: 256,
            memory: 512,
            architecture: "arm64".into(),
            execution_role_arn: "arn:aws:iam::1:role/r".into(),
            log_group: "/aws-app/ann".into(),
            region: "us-east-1".into(),
            port: 8000,
            commit: "0".repeat(40),
            labels: Some(HashMap::from([(PAGE_LABEL.to_string(), "0123456789abcdef".into())])),
        };
        let tags = Tags { prefix: "ann".into(), app: "app".into() };
        let td = ensure_task_definition(&ecs, &spec, &tags).await.expect("retried");
        assert_eq!((td.arn.as_str(), td.registered), ("arn:td:1", true));
    }

    #[tokio::test]
    async fn a_new_service_gets_the_circuit_breaker_and_grace_period() {
        // moto drops these on create, so the request itself is checked here.
        let none = mock!(Client::describe_services)
            .then_output(|| DescribeServicesOutput::builder().build());
        let create = mock!(Client::create_service)
            .match_requests(|r| {
                let breaker = r
                    .deployment_configuration()
                    .and_then(|d| d.deployment_circuit_breaker())
                    .is_some_and(|b| b.enable() && b.rollback());
                let vpc = r.network_configuration().and_then(|n| n.awsvpc_configuration());
                breaker
                    && r.health_check_grace_period_seconds() == Some(HEALTH_CHECK_GRACE_SECS)
                    && r.launch_type() == Some(&LaunchType::Fargate)
                    && vpc.and_then(|v| v.assign_public_ip()) == Some(&AssignPublicIp::Enabled)
                    && vpc.is_some_and(|v| v.security_groups() == ["sg-1"])
                    && r.load_balancers().first().and_then(|l| l.container_port()) == Some(8000)
            })
            .then_output(|| {
                aws_sdk_ecs::operation::create_service::CreateServiceOutput::builder()
                    .service(
                        Service::builder()
                            .deployments(deployment(
                                "ecs-svc/1",
                                "PRIMARY",
                                DeploymentRolloutState::InProgress,
                                "",
                            ))
                            .build(),
                    )
                    .build()
            });
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&none, &create]);
        let tags = Tags { prefix: "ann".into(), app: "app".into() };
        let change = ensure_service(&ecs, &spec(), &tags).await.expect("the request matched");
        assert_eq!(change.deployment_id.as_deref(), Some("ecs-svc/1"));
        assert!(change.changed);
    }

    #[tokio::test]
    async fn an_in_progress_rollout_is_followed_until_it_completes() {
        let progress = mock!(Client::describe_services)
            .sequence()
            .output(|| {
                services(vec![deployment(
                    "ecs-svc/2",
                    "PRIMARY",
                    DeploymentRolloutState::InProgress,
                    "",
                )])
            })
            .output(|| {
                services(vec![deployment(
                    "ecs-svc/2",
                    "PRIMARY",
                    DeploymentRolloutState::Completed,
                    "done",
                )])
            })
            .build();
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, &[&progress]);
        wait(&ecs).await.expect("completes on the second look");
    }
}
