//! `destroy`: delete every AWS resource of the prefix, in dependency order: what the ownership
//! survey (`aws::owner`, under the prefix's lock) found and is the prefix's, so a second run has
//! nothing to do, an interrupted run is finished by the next, and nothing of another's goes. Security groups and the VPC wait (with a deadline) while the load balancer's and
//! the tasks' network interfaces drain.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use aws_sdk_ec2::types::Filter;
use aws_sdk_ecs::error::ProvideErrorMetadata;

use crate::aws::change::{Action, Change};
use crate::aws::owner::Kind;
use crate::aws::{Aws, TAG_PREFIX, failed, retry_for};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::say;

/// How long dependent deletions (security groups, VPC, cluster) may wait for what holds them.
const DRAIN_DEADLINE: Duration = Duration::from_secs(15 * 60);

pub async fn destroy(config: &Config, yes: bool) -> Result<()> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Error::input(
            "destroy deletes every AWS resource of the prefix: pass --yes (no terminal to ask on)",
        ));
    }
    let aws = Aws::connect(config.region.as_deref()).await?;
    // No deploy may recreate what this deletes: hold the prefix's lock to the end.
    let lock = crate::aws::lock::acquire(&aws.dynamodb, &config.prefix, "destroy").await?;
    let result = async {
        let survey = crate::aws::owner::survey(&aws, config).await?;
        let account = aws
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| failed("reading the account of these credentials", e))?;
        let account = account.account().unwrap_or("unknown").to_string();
        crate::done(format!(
            "destroy of prefix {} in AWS account {account}, region {}:",
            config.prefix, aws.region
        ));
        // The same list as `plan`'s, with what becomes of each.
        for found in &survey.found {
            let action = if found.ours { Action::Delete } else { Action::Foreign };
            crate::note(format!("  {}", Change::new(found.what(), action).line()));
        }
        if !yes && survey.found.iter().any(|f| f.ours) {
            confirm(config, &account, &aws.region).await?;
        }
        delete_all(&aws, config, &lock.fence(), &survey).await
    }
    .await;
    lock.release().await;
    result
}

async fn delete_all(
    aws: &Aws,
    config: &Config,
    fence: &crate::aws::lock::Fence,
    survey: &crate::aws::owner::Survey,
) -> Result<()> {
    let names = &config.names;
    let mut deleted: Vec<String> = Vec::new();
    say(format!("deleting what prefix {} has in {}", config.prefix, aws.region));
    let mut done = |what: String| {
        crate::note(format!("deleted {what}"));
        deleted.push(what);
    };

    // What the survey (taken under the lock) found and is the prefix's; the rest is left alone.
    let mine = |kind: Kind, name: &str| survey.may_change(kind, name);

    fence.check("deleting the service")?;
    // 1. The service (scaled to zero, then deleted) and its task definitions.
    if survey.owns(Kind::Service, &names.service) {
        aws.ecs
            .update_service()
            .cluster(&names.cluster)
            .service(&names.service)
            .desired_count(0)
            .send()
            .await
            .map_err(|e| failed("scaling the service to zero", e))?;
        aws.ecs
            .delete_service()
            .cluster(&names.cluster)
            .service(&names.service)
            .force(true)
            .send()
            .await
            .map_err(|e| failed("deleting the ECS service", e))?;
        done(format!("service {}", names.service));
    }
    let revisions = match mine(Kind::TaskFamily, &names.task_family) {
        true => crate::lifecycle::live::revisions(aws, &names.task_family).await?,
        false => Vec::new(),
    };
    for arn in &revisions {
        aws.ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| failed("deregistering a task definition", e))?;
    }
    if !revisions.is_empty() {
        done(format!("{} task definition revision(s)", revisions.len()));
    }

    fence.check("deleting the load balancer")?;
    // 2. Load balancer (listeners first), then the target group.
    if let Some(arn) = survey.elb_arn(Kind::LoadBalancer, &names.load_balancer) {
        let listeners = aws
            .elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| failed("listing the listeners", e))?;
        for listener in listeners.listeners() {
            aws.elb
                .delete_listener()
                .set_listener_arn(listener.listener_arn().map(str::to_string))
                .send()
                .await
                .map_err(|e| failed("deleting a listener", e))?;
        }
        aws.elb
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| failed("deleting the load balancer", e))?;
        done(format!("load balancer {}", names.load_balancer));
    }
    if let Some(arn) = survey.elb_arn(Kind::TargetGroup, &names.target_group) {
        until_released("deleting the target group", &["ResourceInUse"], || {
            aws.elb.delete_target_group().target_group_arn(arn).send()
        })
        .await?;
        done(format!("target group {}", names.target_group));
    }

    fence.check("deleting the security groups")?;
    // 3. What an EC2 builder left (a deploy killed while it built): instance, security group.
    // Then the service's security groups (the tasks' refers to the ALB's: it goes first), when
    // their network interfaces are gone.
    for what in crate::builder::remove(aws, config).await? {
        done(what);
    }
    for group_name in [&names.task_security_group, &names.alb_security_group] {
        let groups = aws
            .ec2
            .describe_security_groups()
            .filters(Filter::builder().name("group-name").values(group_name).build())
            .filters(
                Filter::builder().name(format!("tag:{TAG_PREFIX}")).values(&config.prefix).build(),
            )
            .send()
            .await
            .map_err(|e| failed("finding the security groups", e))?;
        for id in groups.security_groups().iter().filter_map(|g| g.group_id()) {
            until_released(
                &format!("deleting security group {group_name}"),
                &["DependencyViolation"],
                || aws.ec2.delete_security_group().group_id(id).send(),
            )
            .await?;
            done(format!("security group {group_name}"));
        }
    }

    fence.check("deleting the logs, roles and repository")?;
    // 4. Logs, roles, image repository, cluster.
    if mine(Kind::LogGroup, &names.log_group) {
        match aws.logs.delete_log_group().log_group_name(&names.log_group).send().await {
            Ok(_) => done(format!("log group {}", names.log_group)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
            }
            Err(e) => return Err(failed("deleting the log group", e)),
        }
    }
    if mine(Kind::Role, &names.execution_role) {
        let role = &names.execution_role;
        match aws.iam.list_attached_role_policies().role_name(role).send().await {
            Ok(out) => {
                for policy in out.attached_policies() {
                    aws.iam
                        .detach_role_policy()
                        .role_name(role)
                        .set_policy_arn(policy.policy_arn().map(str::to_string))
                        .send()
                        .await
                        .map_err(|e| failed("detaching the role's policy", e))?;
                }
                aws.iam
                    .delete_role()
                    .role_name(role)
                    .send()
                    .await
                    .map_err(|e| failed("deleting the task execution role", e))?;
                done(format!("IAM role {role}"));
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
            Err(e) => return Err(failed("finding the task execution role", e)),
        }
    }
    if mine(Kind::Role, &names.builder) && mine(Kind::InstanceProfile, &names.builder) {
        for what in crate::builder::remove_role(aws, config).await? {
            done(what);
        }
    }
    if mine(Kind::Repository, &names.image_repo) {
        let repo = &names.image_repo;
        match aws.ecr.delete_repository().repository_name(repo).force(true).send().await {
            Ok(_) => done(format!("ECR repository {repo} with its images")),
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => {}
            Err(e) => return Err(failed("deleting the ECR repository", e)),
        }
    }
    if survey.owns(Kind::Cluster, &names.cluster) {
        // A service being deleted, and its tasks, keep the cluster busy for a while.
        until_released(
            "deleting the ECS cluster",
            &["ClusterContainsServicesException", "ClusterContainsTasksException"],
            || aws.ecs.delete_cluster().cluster(&names.cluster).send(),
        )
        .await?;
        done(format!("ECS cluster {}", names.cluster));
    }

    fence.check("deleting the VPC")?;
    // 5. A VPC only if aws-app made it (tagged with the prefix): subnets, gateway, routes.
    let vpcs = survey.found.iter().filter(|f| f.kind == Kind::Vpc).map(|f| f.name.as_str());
    for vpc in vpcs {
        delete_own_vpc(aws, vpc, &config.prefix).await?;
        done(format!("VPC {vpc} with its subnets, route table and internet gateway"));
    }

    if deleted.is_empty() {
        crate::done(format!("nothing to delete for prefix {} in {}", config.prefix, aws.region));
    } else {
        crate::done(format!(
            "destroyed {} resource group(s) of prefix {}",
            deleted.len(),
            config.prefix
        ));
    }
    if config.json {
        crate::out!("{}", serde_json::json!({ "deleted": deleted }));
    }
    Ok(())
}

async fn delete_own_vpc(aws: &Aws, vpc: &str, prefix: &str) -> Result<()> {
    let in_vpc = || Filter::builder().name("vpc-id").values(vpc).build();
    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(in_vpc())
        .send()
        .await
        .map_err(|e| failed("listing the VPC's subnets", e))?;
    for id in subnets.subnets().iter().filter_map(|s| s.subnet_id()) {
        until_released("deleting a subnet", &["DependencyViolation"], || {
            aws.ec2.delete_subnet().subnet_id(id).send()
        })
        .await?;
    }
    // Found by tag: a gateway left detached by an interrupted run is found too.
    let gateways = aws
        .ec2
        .describe_internet_gateways()
        .filters(Filter::builder().name(format!("tag:{TAG_PREFIX}")).values(prefix).build())
        .send()
        .await
        .map_err(|e| failed("finding the VPC's internet gateway", e))?;
    for gateway in gateways.internet_gateways() {
        let Some(id) = gateway.internet_gateway_id() else { continue };
        if gateway.attachments().iter().any(|a| a.vpc_id() == Some(vpc)) {
            aws.ec2
                .detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc)
                .send()
                .await
                .map_err(|e| failed("detaching the internet gateway", e))?;
        }
        aws.ec2
            .delete_internet_gateway()
            .internet_gateway_id(id)
            .send()
            .await
            .map_err(|e| failed("deleting the internet gateway", e))?;
    }
    let tables = aws
        .ec2
        .describe_route_tables()
        .filters(in_vpc())
        .send()
        .await
        .map_err(|e| failed("listing the VPC's route tables", e))?;
    for table in tables.route_tables() {
        // The main route table goes with the VPC.
        if table.associations().iter().any(|a| a.main() == Some(true)) {
            continue;
        }
        if let Some(id) = table.route_table_id() {
            aws.ec2
                .delete_route_table()
                .route_table_id(id)
                .send()
                .await
                .map_err(|e| failed("deleting the route table", e))?;
        }
    }
    until_released("deleting the VPC", &["DependencyViolation"], || {
        aws.ec2.delete_vpc().vpc_id(vpc).send()
    })
    .await?;
    Ok(())
}

/// Sends a delete until what holds the resource lets go (`busy`: the error codes meaning that),
/// for up to `DRAIN_DEADLINE`.
async fn until_released<T, E, Fut>(step: &str, busy: &[&str], call: impl Fn() -> Fut) -> Result<()>
where
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let in_use = |code: Option<&str>, _: Option<&str>| code.is_some_and(|c| busy.contains(&c));
    retry_for(step, DRAIN_DEADLINE, Duration::from_secs(5), in_use, call).await.map(|_| ())
}

/// Asks on the terminal (the read runs off the runtime: a signal still ends the run).
async fn confirm(config: &Config, account: &str, region: &str) -> Result<()> {
    crate::progress::finish();
    eprint!(
        "Delete the resources above of prefix '{}' in account {account}, {region}? Type the \
         prefix to confirm: ",
        config.prefix
    );
    let _ = std::io::stderr().flush();
    let answer = tokio::task::spawn_blocking(|| {
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).map(|_| answer)
    })
    .await
    .map_err(|e| Error::input(format!("no answer: {e}")))?
    .map_err(|e| Error::input(format!("no answer: {e}")))?;
    if answer.trim() != config.prefix {
        return Err(Error::input("not confirmed: nothing was deleted"));
    }
    Ok(())
}
