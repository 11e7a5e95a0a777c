//! `destroy`: delete every AWS resource of the prefix, in dependency order: what the ownership
//! survey (`aws::owner`, under the prefix's lock) found and is the prefix's, so a second run has
//! nothing to do, an interrupted run is finished by the next, and nothing of another's goes. Security groups and the VPC wait (with a deadline) while the load balancer's and
//! the tasks' network interfaces drain.

use std::io::{BufRead, IsTerminal, Write};

use crate::aws::change::{Action, Change};
use crate::aws::lock::Fence;
use crate::aws::owner::Kind;
use crate::aws::{Aws, alb, domain, ecr, ecs, failed, iam, logs, network, scaling};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::say;

pub async fn destroy(config: &Config, yes: bool) -> Result<Outcome> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Error::input(
            "destroy deletes every AWS resource of the prefix: pass --yes (no terminal to ask on)",
        ));
    }
    let aws = Aws::connect(config.region.as_deref()).await?;
    // No deploy may recreate what this deletes: hold the prefix's lock to the end.
    let destroy = async |fence: &Fence| {
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
        // The service's autoscaling goes with the service (or, a service gone, with the cluster).
        let names = &config.names;
        let scaling_id = scaling::resource_id(&names.cluster, &names.service);
        let scaled = survey.owns(Kind::Service, &names.service)
            || survey.owns(Kind::Cluster, &names.cluster);
        let scaled = match scaled {
            true => scaling::find(&aws.autoscaling, &scaling_id).await?.map(|_| scaling_id),
            false => None,
        };
        // The same list as `plan`'s, with what becomes of each.
        for found in &survey.found {
            let action = if found.ours { Action::Delete } else { Action::Foreign };
            crate::note(format!("  {}", Change::new(found.what(), action).line()));
        }
        if let Some(id) = &scaled {
            crate::note(format!(
                "  {}",
                Change::new(format!("autoscaling {id}"), Action::Delete).line()
            ));
        }
        // `--domain`'s certificates (found by the prefix's tag) and their records.
        let certificates = domain::certificates_of(&aws.acm, &config.prefix, None).await?;
        for (name, _) in &certificates {
            let what = format!("ACM certificate {name} and its Route 53 records");
            crate::note(format!("  {}", Change::new(what, Action::Delete).line()));
        }
        let more = scaled.is_some() || !certificates.is_empty();
        if !yes && (more || survey.found.iter().any(|f| f.ours)) {
            confirm(config, &account, &aws.region).await?;
        }
        delete_all(&aws, config, fence, &survey, scaled.as_deref(), &certificates).await
    };
    let stopped = async |signal| {
        Error::interrupted(format!("stopped by {signal}; run destroy again to delete what is left"))
    };
    crate::aws::lock::holding(&aws.dynamodb, &config.prefix, "destroy", destroy, stopped).await
}

/// Deletes what the survey found and is the prefix's, in dependency order; each resource's
/// module knows how its own goes.
async fn delete_all(
    aws: &Aws,
    config: &Config,
    fence: &crate::aws::lock::Fence,
    survey: &crate::aws::owner::Survey,
    scaled: Option<&str>,
    certificates: &[(String, String)],
) -> Result<Outcome> {
    let names = &config.names;
    let mut deleted: Vec<String> = Vec::new();
    say(format!("deleting what prefix {} has in {}", config.prefix, aws.region));
    let mut done = |what: String| {
        crate::note(format!("deleted {what}"));
        deleted.push(what);
    };
    // What the survey (taken under the lock) found and is the prefix's; the rest is left alone.
    let mine = |kind: Kind, name: &str| survey.may_change(kind, name);

    // 1. The service's autoscaling (it would set the count again), the service (scaled to
    // zero, then deleted) and its task definitions.
    fence.check("deleting the service")?;
    if let Some(id) = scaled
        && scaling::delete(&aws.autoscaling, id).await?
    {
        done(format!("autoscaling {id}"));
    }
    if survey.owns(Kind::Service, &names.service) {
        ecs::delete_service(&aws.ecs, &names.cluster, &names.service).await?;
        done(format!("service {}", names.service));
    }
    if mine(Kind::TaskFamily, &names.task_family) {
        let revisions = ecs::deregister_all(&aws.ecs, &names.task_family).await?;
        if revisions > 0 {
            done(format!("{revisions} task definition revision(s)"));
        }
    }

    // 2. `--domain`'s records (the name's aliases to the load balancer, the validation
    // record), the load balancer (listeners first), the certificate it held, then the target
    // group.
    fence.check("deleting the load balancer")?;
    for (name, arn) in certificates {
        let records =
            domain::delete_records(&aws.acm, &aws.route53, name, arn, &names.load_balancer);
        for what in records.await? {
            done(what);
        }
    }
    if let Some(arn) = survey.elb_arn(Kind::LoadBalancer, &names.load_balancer) {
        alb::delete_load_balancer(&aws.elb, arn).await?;
        done(format!("load balancer {}", names.load_balancer));
    }
    for (name, arn) in certificates {
        if domain::delete_certificate(&aws.acm, arn).await? {
            done(format!("ACM certificate {name}"));
        }
    }
    if let Some(arn) = survey.elb_arn(Kind::TargetGroup, &names.target_group) {
        alb::delete_target_group(&aws.elb, arn).await?;
        done(format!("target group {}", names.target_group));
    }

    // 3. What an EC2 builder left (a deploy killed while it built): instance, security group.
    // Then the service's security groups (the tasks' refers to the ALB's: it goes first), when
    // their network interfaces are gone.
    fence.check("deleting the security groups")?;
    for what in crate::builder::remove(aws, config).await? {
        done(what);
    }
    for group in [&names.task_security_group, &names.alb_security_group] {
        if network::delete_groups(&aws.ec2, group, &config.prefix).await? > 0 {
            done(format!("security group {group}"));
        }
    }

    // 4. Logs, roles, image repository, cluster.
    fence.check("deleting the logs, roles and repository")?;
    if mine(Kind::LogGroup, &names.log_group)
        && logs::delete_log_group(&aws.logs, &names.log_group).await?
    {
        done(format!("log group {}", names.log_group));
    }
    let role = &names.execution_role;
    if mine(Kind::Role, role)
        && iam::delete_role(&aws.iam, role, &[crate::aws::secrets::POLICY_NAME]).await?
    {
        done(format!("IAM role {role}"));
    }
    if mine(Kind::Role, &names.builder) && mine(Kind::InstanceProfile, &names.builder) {
        for what in crate::builder::remove_role(aws, config).await? {
            done(what);
        }
    }
    let repo = &names.image_repo;
    if mine(Kind::Repository, repo) && ecr::delete_repository(&aws.ecr, repo).await? {
        done(format!("ECR repository {repo} with its images"));
    }
    if survey.owns(Kind::Cluster, &names.cluster) {
        ecs::delete_cluster(&aws.ecs, &names.cluster).await?;
        done(format!("ECS cluster {}", names.cluster));
    }

    // 5. A VPC only if aws-app made it (tagged with the prefix): subnets, gateway, routes.
    fence.check("deleting the VPC")?;
    let vpcs = survey.found.iter().filter(|f| f.kind == Kind::Vpc).map(|f| f.name.as_str());
    for vpc in vpcs {
        network::delete_own_vpc(&aws.ec2, vpc, &config.prefix).await?;
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
    Ok(Outcome::json(serde_json::json!({ "deleted": deleted })))
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
