//! `redeploy`: deploy only when the branch moved or the build inputs changed. The HEAD is read
//! with a remote listing and compared with the commit the live task definition records, and the
//! live build's recipe and base image with this aws-app's and `--base-image`; when they all
//! match, the URL is printed without cloning, building or asking Docker anything. (A base image
//! re-pulled under the same name is `deploy`'s to find: it asks the engine for the image ID.)

use crate::aws::{Aws, scaling};
use crate::config::Config;
use crate::error::Result;
use crate::lifecycle::live;
use crate::outcome::Outcome;
use crate::{deploy, say, source};

pub async fn redeploy(config: &Config, force: bool) -> Result<Outcome> {
    if force {
        say("--force: rebuilding and deploying whatever runs now");
        return deploy::deploy(config, true).await;
    }
    let aws = Aws::connect(config.region.as_deref()).await?;
    // The branch's HEAD and what runs, asked at once.
    let names = &config.names;
    let scaling_id = scaling::resource_id(&names.cluster, &names.service);
    let (head, live, secrets, scaled) = tokio::join!(
        source::resolve_head(&config.source),
        live::find(&aws, config),
        crate::aws::secrets::resolve(&aws, &config.secrets),
        scaling::find(&aws.autoscaling, &scaling_id)
    );
    let (head, live, secrets, scaled) = (head?, live?, secrets?, scaled?);
    // Whether the load balancer serves HTTPS (an earlier `--domain`), against whether it should.
    let https = match &live {
        Some(_) => {
            let lb = crate::aws::alb::find_load_balancer(&aws.elb, &names.load_balancer).await?;
            match lb.and_then(|l| l.load_balancer_arn) {
                Some(arn) => {
                    crate::aws::alb::find_listener_on(&aws.elb, &arn, 443).await?.is_some()
                }
                None => false,
            }
        }
        None => false,
    };
    let range = scaled.as_ref().map(|s| (s.min, s.max));
    let wanted_range = config.task.scaling.map(|r| {
        (i32::try_from(r.min).unwrap_or_default(), i32::try_from(r.max).unwrap_or_default())
    });
    let moved = match &live {
        Some(l) if l.commit.as_deref() != Some(head.as_str()) => {
            format!("{} moved to {}", config.source.branch, &head[..12])
        }
        Some(l) if !l.runs_build_of(&head, &config.base_image, None) => format!(
            "{} runs {} built from other inputs (aws-app's recipe or the base image changed)",
            config.names.service,
            &head[..12]
        ),
        Some(l) if crate::aws::ecs::environment_of(&l.task_definition) != config.environment => {
            format!("{} runs other variables than --env/--env-file give", config.names.service)
        }
        Some(l) if crate::aws::secrets::secrets_of(&l.task_definition) != secrets.secrets => {
            format!("{} runs other secrets than --secret gives", config.names.service)
        }
        Some(_) if https != config.domain.is_some() => match &config.domain {
            Some(name) => format!("{name} is to be served over HTTPS"),
            None => "HTTPS is to be removed (no --domain)".to_string(),
        },
        Some(_) if range != wanted_range => match wanted_range {
            Some((min, max)) => format!("autoscaling is to be {}", scaling::range_text(min, max)),
            None => "autoscaling is to be removed".to_string(),
        },
        Some(_) => String::new(),
        None => "nothing is deployed yet".to_string(),
    };
    if let Some(live) = live.filter(|_| moved.is_empty()) {
        let url = live.url.clone().unwrap_or_default();
        crate::done(format!(
            "up to date: {} runs {} (revision {}; {} AWS API calls)",
            config.names.service,
            &head[..12],
            live.revision(),
            crate::aws::api_calls()
        ));
        let out = serde_json::json!({
            "url": url,
            "commit": head,
            "image": live.image(),
            "task_definition": live.task_definition.task_definition_arn(),
            "changed": false,
        });
        return Ok(Outcome::json(out).line(url));
    }
    say(format!("{moved}: deploying"));
    deploy::deploy(config, false).await
}
