//! `rollback`: move the service back to the previous task definition revision (or to the newest
//! revision that runs `--to <commit>`), follow that rollout, verify the URL serves that
//! revision's page. Revisions are never deregistered by deploys, and the ECR lifecycle policy
//! keeps the last 10 images, so the last revisions can always run again.

use std::time::Duration;

use crate::aws::ecs::{self, COMMIT_LABEL, PAGE_LABEL, ServiceSpec};
use crate::aws::{Aws, ecr, failed};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::lifecycle::live;
use crate::outcome::Outcome;
use crate::{deploy, say};

pub async fn rollback(config: &Config, to: Option<&str>) -> Result<Outcome> {
    let aws = Aws::connect(config.region.as_deref()).await?;
    let Some(live) = live::find(&aws, config).await? else {
        return Err(live::not_deployed(config, &aws.region));
    };
    if !live.owned_by(&config.prefix) {
        return Err(Error::input(format!(
            "the ECS service {} lacks the tags of prefix {}: it is not aws-app's to roll back \
             (deploy with --adopt to take it over)",
            config.names.service, config.prefix
        )));
    }
    // A rollback is a deploy of an older revision: one at a time per prefix.
    crate::aws::lock::holding(
        &aws.dynamodb,
        &config.prefix,
        "rollback",
        async |fence| roll(&aws, config, &live, to, fence).await,
        async |signal| {
            Error::interrupted(format!(
                "stopped by {signal}; the service goes on to the revision it was moved to; \
                 `status` shows it"
            ))
        },
    )
    .await
}

async fn roll(
    aws: &Aws,
    config: &Config,
    live: &live::Live,
    to: Option<&str>,
    fence: &crate::aws::lock::Fence,
) -> Result<Outcome> {
    let current = live.revision();
    let target = find_target(aws, config, live, to).await?;
    let arn = target.task_definition_arn().unwrap_or_default().to_string();
    let commit = ecs::label_of(&target, COMMIT_LABEL);
    let changed = target.revision() != current;
    if changed {
        check_image_kept(aws, config, &target).await?;
        // The execution role may read the target's secrets (a later deploy may have given it
        // others, or none); a secret deleted since is exit 2 before the service is touched.
        let wanted: Vec<(String, String)> = crate::aws::secrets::secrets_of(&target);
        let secrets = crate::aws::secrets::resolve(aws, &wanted).await?;
        fence.check("granting the revision's secrets")?;
        let role = &config.names.execution_role;
        crate::aws::iam::put_secrets_policy(&aws.iam, role, secrets.policy.as_deref(), false)
            .await?;
        say(format!(
            "rolling back from revision {current} to {} (commit {})",
            target.revision(),
            commit.unwrap_or("unknown")
        ));
        fence.check("moving the service")?;
        move_service(aws, config, live, &arn).await?;
    } else {
        crate::note(format!("revision {current} already runs"));
    }
    let url = live.url.clone().ok_or_else(|| Error::failed("the service has no load balancer"))?;
    deploy::verify(&url, ecs::label_of(&target, PAGE_LABEL), config.expect.as_deref()).await?;
    crate::done(format!("{url} serves revision {}", target.revision()));
    let out = serde_json::json!({
        "url": url, "commit": commit, "task_definition": arn, "changed": changed,
    });
    Ok(Outcome::json(out).line(url))
}

/// Back: the newest earlier revision that runs another commit (one that only changed, say,
/// --cpu would roll back to the same code). `--to`: the newest revision running that commit.
async fn find_target(
    aws: &Aws,
    config: &Config,
    live: &live::Live,
    to: Option<&str>,
) -> Result<aws_sdk_ecs::types::TaskDefinition> {
    let family = &config.names.task_family;
    let current = live.revision();
    for arn in ecs::revisions(&aws.ecs, family).await? {
        if to.is_none() && ecs::revision_of(&arn) >= current {
            continue;
        }
        let td = ecs::describe_task_definition(&aws.ecs, &arn).await?;
        let commit = ecs::label_of(&td, COMMIT_LABEL);
        let wanted = match to {
            Some(prefix) => commit.is_some_and(|c| c.starts_with(prefix)),
            None => commit.is_some() && commit != live.commit.as_deref(),
        };
        if wanted {
            return Ok(td);
        }
    }
    Err(match to {
        Some(commit) => Error::input(format!(
            "no revision of {family} runs commit {commit}: see `aws-app status` for what runs"
        )),
        None => Error::failed(format!(
            "no earlier revision runs another commit than revision {current}"
        )),
    })
}

/// The revision's image must still be in ECR (the lifecycle policy expires images): refused
/// before the service is touched, since ECS would only find out when its tasks fail to pull.
async fn check_image_kept(
    aws: &Aws,
    config: &Config,
    target: &aws_sdk_ecs::types::TaskDefinition,
) -> Result<()> {
    let image = ecs::image_of(target).unwrap_or("");
    if let Some((host, digest)) = image.split_once('@')
        && host.contains(".dkr.ecr.")
        && !ecr::protect(&aws.ecr, &config.names.image_repo, digest).await?
    {
        return Err(Error::input(format!(
            "revision {} runs image {digest}, which ECR no longer has (expired or deleted): \
             roll back to another commit with --to, or deploy commit {} again to rebuild it",
            target.revision(),
            ecs::label_of(target, COMMIT_LABEL).unwrap_or("unknown")
        )));
    }
    Ok(())
}

/// Moves the service to the revision `arn` and follows that rollout.
async fn move_service(aws: &Aws, config: &Config, live: &live::Live, arn: &str) -> Result<()> {
    let names = &config.names;
    let updated = aws
        .ecs
        .update_service()
        .cluster(&names.cluster)
        .service(&names.service)
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| failed("moving the service to the earlier revision", e))?;
    let deployment = updated
        .service()
        .and_then(ecs::primary_deployment)
        .and_then(|d| d.id())
        .map(str::to_string)
        .ok_or_else(|| Error::failed("ECS reported no deployment for the rollback"))?;
    let spec = ServiceSpec {
        cluster: names.cluster.clone(),
        name: names.service.clone(),
        task_definition: arn.to_string(),
        desired_count: live.service.desired_count(),
        range: None,
        subnets: Vec::new(),
        security_group: String::new(),
        target_group_arn: String::new(),
        port: crate::image::APP_PORT,
    };
    let deadline = Duration::from_secs(20 * 60);
    ecs::wait_rollout(&aws.ecs, &aws.logs, &spec, &names.log_group, &deployment, deadline).await
}
