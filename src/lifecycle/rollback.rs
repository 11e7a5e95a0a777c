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
use crate::{deploy, say};

pub async fn rollback(config: &Config, to: Option<&str>) -> Result<()> {
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
) -> Result<()> {
    let names = &config.names;
    let current = live.revision();
    let arns = crate::aws::ecs::revisions(&aws.ecs, &names.task_family).await?;
    let commit_of = |td: &aws_sdk_ecs::types::TaskDefinition| {
        td.container_definitions()
            .first()
            .and_then(|c| c.docker_labels())
            .and_then(|l| l.get(COMMIT_LABEL))
            .cloned()
    };
    // Back: the newest earlier revision that runs another commit (one that only changed, say,
    // --cpu would roll back to the same code). --to: the newest revision running that commit.
    let mut target = None;
    for arn in &arns {
        if to.is_none() && crate::aws::ecs::revision_of(arn) >= current {
            continue;
        }
        let td = crate::aws::ecs::describe_task_definition(&aws.ecs, arn).await?;
        let commit = commit_of(&td);
        let wanted = match to {
            Some(prefix) => commit.as_deref().is_some_and(|c| c.starts_with(prefix)),
            None => commit.is_some() && commit != live.commit,
        };
        if wanted {
            target = Some(td);
            break;
        }
    }
    let Some(target) = target else {
        return Err(match to {
            Some(commit) => Error::input(format!(
                "no revision of {} runs commit {commit}: see `aws-app status` for what runs",
                names.task_family
            )),
            None => Error::failed(format!(
                "no earlier revision runs another commit than revision {current}"
            )),
        });
    };
    let arn = target.task_definition_arn().unwrap_or_default().to_string();
    let label = |key: &str| {
        target
            .container_definitions()
            .first()
            .and_then(|c| c.docker_labels())
            .and_then(|l| l.get(key))
            .cloned()
    };
    let (commit, page) = (label(COMMIT_LABEL), label(PAGE_LABEL));
    // Its image must still be in ECR (the lifecycle policy expires images): refused before the
    // service is touched, since ECS would only find out when its tasks fail to pull.
    let image = target.container_definitions().first().and_then(|c| c.image()).unwrap_or("");
    if target.revision() != current
        && let Some((host, digest)) = image.split_once('@')
        && host.contains(".dkr.ecr.")
        && !ecr::protect(&aws.ecr, &names.image_repo, digest).await?
    {
        return Err(Error::input(format!(
            "revision {} runs image {digest}, which ECR no longer has (expired or deleted): \
                 roll back to another commit with --to, or deploy commit {} again to rebuild it",
            target.revision(),
            commit.as_deref().unwrap_or("unknown")
        )));
    }
    if target.revision() == current {
        crate::note(format!("revision {current} already runs"));
    } else {
        say(format!(
            "rolling back from revision {current} to {} (commit {})",
            target.revision(),
            commit.as_deref().unwrap_or("unknown")
        ));
        fence.check("moving the service")?;
        let updated = aws
            .ecs
            .update_service()
            .cluster(&names.cluster)
            .service(&names.service)
            .task_definition(&arn)
            .send()
            .await
            .map_err(|e| failed("moving the service to the earlier revision", e))?;
        let deployment = updated
            .service()
            .and_then(crate::aws::ecs::primary_deployment)
            .and_then(|d| d.id())
            .map(str::to_string)
            .ok_or_else(|| Error::failed("ECS reported no deployment for the rollback"))?;
        let spec = ServiceSpec {
            cluster: names.cluster.clone(),
            name: names.service.clone(),
            task_definition: arn.clone(),
            desired_count: live.service.desired_count(),
            subnets: Vec::new(),
            security_group: String::new(),
            target_group_arn: String::new(),
            port: crate::image::APP_PORT,
        };
        ecs::wait_rollout(
            &aws.ecs,
            &aws.logs,
            &spec,
            &names.log_group,
            &deployment,
            Duration::from_secs(20 * 60),
        )
        .await?;
    }
    let url = live.url.clone().ok_or_else(|| Error::failed("the service has no load balancer"))?;
    deploy::verify(&url, page.as_deref(), config.expect.as_deref()).await?;
    crate::done(format!("{url} serves revision {}", target.revision()));
    if config.json {
        crate::out!(
            "{}",
            serde_json::json!({"url": url, "commit": commit, "task_definition": arn, "changed": target.revision() != current})
        );
    } else {
        crate::out!("{url}");
    }
    Ok(())
}
