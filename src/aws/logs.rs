//! The app's log group (awslogs driver), with a retention so logs do not pile up forever.

use aws_sdk_cloudwatchlogs::Client;

use super::{Tags, failed};
use crate::error::Result;

pub const RETENTION_DAYS: i32 = 30;

pub async fn ensure_log_group(logs: &Client, name: &str, tags: &Tags) -> Result<()> {
    let found = logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| failed("finding the log group", e))?
        .log_groups
        .unwrap_or_default()
        .into_iter()
        .find(|g| g.log_group_name() == Some(name));
    let retention = match found {
        Some(group) => group.retention_in_days,
        None => {
            let mut create = logs.create_log_group().log_group_name(name);
            for (key, value) in tags.pairs() {
                create = create.tags(key, value);
            }
            match create.send().await {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
                Err(e) => return Err(failed("creating the log group", e)),
            }
            None
        }
    };
    if retention != Some(RETENTION_DAYS) {
        logs.put_retention_policy()
            .log_group_name(name)
            .retention_in_days(RETENTION_DAYS)
            .send()
            .await
            .map_err(|e| failed("setting the log group's retention", e))?;
    }
    Ok(())
}
