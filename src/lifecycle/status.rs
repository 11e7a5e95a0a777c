//! `status`: what runs for the prefix, in a few lines (or one JSON object): commit and its age,
//! image, what it was built from (base image, aws-app recipe, resolved pins), its known
//! vulnerabilities and ECR's scan findings, revision, task counts, autoscaling (range, policies,
//! recent activity), rollout, target health, URL, the service's last events.

use crate::aws::{Aws, ecr, failed, scaling};
use crate::config::Config;
use crate::error::Result;
use crate::image::lock::{
    BASE_ID_LABEL, BASE_IMAGE_LABEL, PINS_LABEL, RECIPE_LABEL, RESOLUTION_LABEL,
    VULNERABILITIES_LABEL, describe_resolution, inputs_json, unchecked_count, vulnerability_count,
};
use crate::lifecycle::live::{self, Live};
use crate::outcome::Outcome;
use crate::unix_now as now;

pub async fn status(config: &Config) -> Result<Outcome> {
    let aws = Aws::connect(config.region.as_deref()).await?;
    let Some(live) = live::find(&aws, config).await? else {
        return Err(live::not_deployed(config, &aws.region));
    };
    let targets = target_health(&aws, &live).await?;
    let primary = crate::aws::ecs::primary_deployment(&live.service);
    let rollout = primary.and_then(|d| d.rollout_state()).map(|s| s.as_str().to_string());
    let age = live.commit_time.as_deref().and_then(crate::parse_rfc3339).map(|t| now() - t);
    // ECS lists events newest first; the last five, oldest first.
    let events: Vec<(String, String)> = live
        .service
        .events()
        .iter()
        .take(5)
        .rev()
        .map(|e| {
            let at = e.created_at().map(|d| crate::rfc3339(d.secs())).unwrap_or_default();
            (at, e.message().unwrap_or("").to_string())
        })
        .collect();
    let image = live.image();
    let vulnerabilities = vulnerability_count(live.label(VULNERABILITIES_LABEL));
    let unchecked = unchecked_count(live.label(VULNERABILITIES_LABEL));
    let scan = match image.and_then(|i| i.split_once('@')) {
        Some((_, digest)) => ecr::scan_summary(&aws.ecr, &config.names.image_repo, digest).await,
        None => None,
    };
    let scaling_id = scaling::resource_id(&config.names.cluster, &config.names.service);
    let scaled = scaling::find(&aws.autoscaling, &scaling_id).await?;
    let activities = match &scaled {
        Some(_) => scaling::activities(&aws.autoscaling, &scaling_id, 5).await?,
        None => Vec::new(),
    };
    // Newest first from the API; shown oldest first like the events.
    let activities: Vec<serde_json::Value> = activities
        .iter()
        .rev()
        .map(|a| {
            serde_json::json!({
                "at": crate::rfc3339(a.start_time().secs()),
                "status": a.status_code().as_str(),
                "description": a.description(),
                "cause": a.cause(),
                "message": a.status_message(),
            })
        })
        .collect();
    let autoscaling = scaled.as_ref().map(|s| {
        serde_json::json!({
            "min": s.min,
            "max": s.max,
            "policies": s.policies.iter().map(|p| serde_json::json!({
                "name": p.name,
                "metric": p.metric.as_str(),
                "target": p.target,
                "scale_out_cooldown": p.scale_out_cooldown,
                "scale_in_cooldown": p.scale_in_cooldown,
            })).collect::<Vec<_>>(),
            "activities": activities.clone(),
        })
    });
    // `--domain`: its certificate, as ACM has it.
    let certificate = match &config.domain {
        Some(name) => crate::aws::domain::find_certificate(&aws.acm, name, &config.prefix).await?,
        None => None,
    };
    let https = config.domain.as_ref().map(|name| {
        serde_json::json!({
            "name": name,
            "certificate": certificate.as_ref().map(|c| c.arn.clone()),
            "certificate_status": certificate.as_ref().map(|c| c.status.clone()),
            "certificate_expires": certificate.as_ref().and_then(|c| c.not_after).map(crate::rfc3339),
        })
    });
    let environment = crate::aws::ecs::environment_of(&live.task_definition);
    // Secrets by name and where ECS reads them from: their values are not aws-app's to know.
    let secrets = crate::aws::secrets::secrets_of(&live.task_definition);
    let out = serde_json::json!({
            "url": live.url,
            "environment": environment.iter().map(|(k, v)| (k.clone(), v.as_str().into())).collect::<serde_json::Map<_, _>>(),
            "secrets": secrets.iter().map(|(k, from)| (k.clone(), from.as_str().into())).collect::<serde_json::Map<_, _>>(),
            "commit": live.commit,
            "commit_time": live.commit_time,
            "age_seconds": age,
            "image": image,
            "inputs": inputs_json(&live.labels),
            "vulnerabilities": vulnerabilities,
            "advisories_unchecked": unchecked,
            "scan": scan.as_ref().map(ecr::ScanSummary::to_json),
            "task_definition": live.task_definition.task_definition_arn(),
            "revision": live.revision(),
            "desired": live.service.desired_count(),
            "running": live.service.running_count(),
            "pending": live.service.pending_count(),
            "autoscaling": autoscaling,
            "domain": https,
            "rollout_state": rollout,
            "targets": targets.iter().map(|(id, state, reason)| serde_json::json!({"target": id, "state": state, "reason": reason})).collect::<Vec<_>>(),
            "events": events.iter().map(|(at, message)| serde_json::json!({"at": at, "message": message})).collect::<Vec<_>>(),
    });
    let mut text = Vec::new();
    let commit = live.commit.as_deref().unwrap_or("unknown");
    let age = age.map_or("age unknown".to_string(), |s| format!("{} old", human(s)));
    text.push(format!("service    {} in {}", config.names.service, aws.region));
    text.push(format!("commit     {commit} ({age})"));
    text.push(format!("image      {}", image.unwrap_or("unknown")));
    if !environment.is_empty() {
        let names: Vec<&str> = environment.iter().map(|(k, _)| k.as_str()).collect();
        text.push(format!("variables  {}", names.join(", ")));
    }
    if !secrets.is_empty() {
        let names: Vec<&str> = secrets.iter().map(|(k, _)| k.as_str()).collect();
        text.push(format!("secrets    {}", names.join(", ")));
    }
    let or_unknown = |key: &str| live.label(key).unwrap_or("unknown");
    let base_id = or_unknown(BASE_ID_LABEL);
    text.push(format!(
        "built from {} ({}), aws-app recipe {}",
        or_unknown(BASE_IMAGE_LABEL),
        base_id.strip_prefix("sha256:").map_or(base_id, |id| &id[..12.min(id.len())]),
        or_unknown(RECIPE_LABEL)
    ));
    let pins = live.label(PINS_LABEL).map(|p| p.split_whitespace().count());
    text.push(format!(
        "pins       {} resolved {}: {}",
        pins.map_or("?".to_string(), |n| n.to_string()),
        describe_resolution(live.label(RESOLUTION_LABEL)),
        live.label(PINS_LABEL).unwrap_or("unknown")
    ));
    let not_checked = match unchecked {
        Some(0) => String::new(),
        Some(n) => format!(" ({n} of the releases not checked)"),
        None => String::new(),
    };
    text.push(format!(
        "advisories {}",
        match vulnerabilities {
            Some(0) => format!("no known vulnerabilities in the pins{not_checked}"),
            Some(n) => format!(
                "{n} known vulnerabilities in the pins{not_checked}: {}",
                or_unknown(VULNERABILITIES_LABEL)
            ),
            None => "not checked (the advisory source could not be asked)".to_string(),
        }
    ));
    text.push(format!(
        "ECR scan   {}",
        scan.as_ref().map_or("no scan of this image in ECR".to_string(), ToString::to_string)
    ));
    text.push(format!("revision   {}", live.revision()));
    text.push(format!(
        "tasks      {} running, {} pending, {} desired",
        live.service.running_count(),
        live.service.pending_count(),
        live.service.desired_count()
    ));
    if let Some(name) = &config.domain {
        text.push(format!(
            "https      {name}: {}",
            match &certificate {
                Some(c) => format!(
                    "certificate {}{}",
                    c.status,
                    c.not_after
                        .map(|t| format!(", expires {}", crate::rfc3339(t)))
                        .unwrap_or_default()
                ),
                None =>
                    "no certificate of this prefix (deploy with --domain makes one)".to_string(),
            }
        ));
    }
    if let Some(scaled) = &scaled {
        let policies: Vec<String> = scaled.policies.iter().map(scaling::describe).collect();
        text.push(format!(
            "scaling    {}, now {} desired ({})",
            scaling::range_text(scaled.min, scaled.max),
            live.service.desired_count(),
            if policies.is_empty() { "no policies".to_string() } else { policies.join(", ") }
        ));
        if activities.is_empty() {
            text.push("scaled     no scaling activity yet".to_string());
        }
        for a in &activities {
            let field = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            text.push(format!(
                "scaled     {} {}: {}",
                field("at"),
                field("status"),
                crate::shown(&field("description"))
            ));
        }
    }
    text.push(format!("rollout    {}", rollout.as_deref().unwrap_or("unknown")));
    if targets.is_empty() {
        text.push("targets    none registered".to_string());
    }
    for (id, state, reason) in &targets {
        text.push(format!(
            "target     {id}: {state}{}",
            reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        ));
    }
    for (at, message) in &events {
        text.push(format!("event      {at} {}", crate::shown(message)));
    }
    text.push(live.url.as_deref().unwrap_or("no load balancer").to_string());
    Ok(Outcome { text, json: Some(out) })
}

async fn target_health(aws: &Aws, live: &Live) -> Result<Vec<(String, String, Option<String>)>> {
    let Some(tg) = live.service.load_balancers().first().and_then(|l| l.target_group_arn()) else {
        return Ok(Vec::new());
    };
    let out = aws
        .elb
        .describe_target_health()
        .target_group_arn(tg)
        .send()
        .await
        .map_err(|e| failed("reading target health", e))?;
    Ok(out
        .target_health_descriptions()
        .iter()
        .map(|d| {
            let target = d
                .target()
                .map(|t| format!("{}:{}", t.id().unwrap_or("?"), t.port().unwrap_or_default()));
            let health = d.target_health();
            (
                target.unwrap_or_default(),
                health.and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_default(),
                health.and_then(|h| h.description()).map(str::to_string),
            )
        })
        .collect())
}

/// `3d 4h`, `2h 5m`, `40s`.
fn human(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}
