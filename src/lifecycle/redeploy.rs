//! `redeploy`: deploy only when the branch moved. The HEAD is read with a remote listing and
//! compared with the commit the live task definition records; when they match, the URL is
//! printed without cloning, building or asking Docker anything.

use crate::aws::Aws;
use crate::config::Config;
use crate::error::Result;
use crate::lifecycle::live;
use crate::{deploy, say, source};

pub async fn redeploy(config: &Config, force: bool) -> Result<()> {
    if force {
        say("--force: deploying whatever runs now");
        return deploy::deploy(config).await;
    }
    let aws = Aws::connect(config.region.as_deref()).await?;
    let head = source::resolve_head(&config.source).await?;
    let live = live::find(&aws, config).await?;
    if let Some(live) = live.filter(|l| l.commit.as_deref() == Some(head.as_str())) {
        let url = live.url.clone().unwrap_or_default();
        say(format!(
            "up to date: {} runs {} (revision {})",
            config.names.service,
            &head[..12],
            live.revision()
        ));
        if config.json {
            println!(
                "{}",
                serde_json::json!({
                    "url": url,
                    "commit": head,
                    "image": live.task_definition.container_definitions().first().and_then(|c| c.image()),
                    "task_definition": live.task_definition.task_definition_arn(),
                    "changed": false,
                })
            );
        } else {
            println!("{url}");
        }
        return Ok(());
    }
    say(format!("{} moved to {}: deploying", config.source.branch, &head[..12]));
    deploy::deploy(config).await
}
