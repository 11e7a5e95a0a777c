//! Following one deployment to its end, and saying why it failed.

use super::*;

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
        let service = find_service(ecs, &spec.cluster, &spec.name)
            .await?
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
                    // What the rollout waits for once its tasks run: the old ones to drain, or
                    // the load balancer's health checks of the new ones.
                    let old: i32 = service
                        .deployments()
                        .iter()
                        .filter(|o| o.id() != Some(deployment_id))
                        .map(|o| o.running_count())
                        .sum();
                    let waiting = match (d.running_count() >= d.desired_count(), old) {
                        (false, _) => String::new(),
                        (true, 0) => "; waiting for the targets' health checks".to_string(),
                        (true, old) => format!("; {old} old task(s) draining"),
                    };
                    let report = format!(
                        "rollout: {} running, {} pending of {}, {} failed{waiting}",
                        d.running_count(),
                        d.pending_count(),
                        d.desired_count(),
                        d.failed_tasks()
                    );
                    if report != last_report {
                        crate::progress::status(&report);
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
