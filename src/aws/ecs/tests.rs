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
        range: None,
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

fn deployment(id: &str, status: &str, state: DeploymentRolloutState, reason: &str) -> Deployment {
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
                            Container::builder().name("app").exit_code(3).reason("boot").build(),
                        )
                        .build(),
                )
                .build()
        }),
    ]
}

async fn wait(ecs: &Client) -> Result<()> {
    wait_rollout(ecs, &logs_client(), &spec(), "/aws-app/ann", "ecs-svc/2", Duration::from_secs(60))
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
    assert!(detail.contains("stopped task abc123: Essential container in task exited"), "{detail}");
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
                .task_definition(TaskDefinition::builder().task_definition_arn("arn:td:1").build())
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
        environment: Vec::new(),
        secrets: Vec::new(),
    };
    let tags = Tags { prefix: "ann".into(), app: "app".into() };
    let td = ensure_task_definition(&ecs, &spec, &tags).await.expect("retried");
    assert_eq!((td.arn.as_str(), td.registered), ("arn:td:1", true));
}

#[tokio::test]
async fn a_new_service_gets_the_circuit_breaker_and_grace_period() {
    // moto drops these on create, so the request itself is checked here.
    let none =
        mock!(Client::describe_services).then_output(|| DescribeServicesOutput::builder().build());
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
