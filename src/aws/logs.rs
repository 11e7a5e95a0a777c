//! The app's log group (awslogs driver), with a retention so logs do not pile up forever.

use aws_sdk_cloudwatchlogs::Client;

use aws_sdk_cloudwatchlogs::types::LogGroup;

use super::change::{Change, Diff};
use super::{Tags, changed, failed};
use crate::error::Result;

pub const RETENTION_DAYS: i32 = 30;

/// The log group of this name with its retention in days, if there is one.
pub async fn find_log_group(logs: &Client, name: &str) -> Result<Option<LogGroup>> {
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
    Ok(found)
}

/// A log group's ARN as the tagging calls take it (DescribeLogGroups gives it with `:*`).
pub fn taggable_arn(group: &LogGroup) -> String {
    group.arn().unwrap_or_default().trim_end_matches(":*").to_string()
}

/// The log group's tags, as key and value.
pub async fn log_group_tags(logs: &Client, arn: &str) -> Result<Vec<(String, String)>> {
    let out = logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| failed("reading the log group's tags", e))?;
    Ok(out.tags.unwrap_or_default().into_iter().collect())
}

/// Puts the prefix's tags on the log group (`--adopt`).
pub async fn tag_log_group(logs: &Client, arn: &str, tags: &Tags) -> Result<()> {
    let mut call = logs.tag_resource().resource_arn(arn);
    for (key, value) in tags.pairs() {
        call = call.tags(key, value);
    }
    call.send().await.map_err(|e| failed("tagging the log group", e))?;
    Ok(())
}

/// What differs in the retention.
pub fn retention_diff(found: Option<i32>) -> Diff {
    let mut diff = Diff::default();
    diff.compare("retention days", found, RETENTION_DAYS);
    diff
}

/// What a deploy would do to the log group. Reads only.
pub async fn plan(logs: &Client, name: &str) -> Result<Change> {
    let group = find_log_group(logs, name).await?;
    let diff = group.as_ref().map(|g| retention_diff(g.retention_in_days)).unwrap_or_default();
    Ok(Change::from_diff(format!("log group {name}"), group.is_some(), diff))
}

pub async fn ensure_log_group(logs: &Client, name: &str, tags: &Tags) -> Result<()> {
    let retention = match find_log_group(logs, name).await? {
        Some(group) => group.retention_in_days,
        None => {
            let mut create = logs.create_log_group().log_group_name(name);
            for (key, value) in tags.pairs() {
                create = create.tags(key, value);
            }
            changed("creating the log group", create.send().await, |e| {
                e.is_resource_already_exists_exception()
            })?;
            None
        }
    };
    if !retention_diff(retention).is_empty() {
        logs.put_retention_policy()
            .log_group_name(name)
            .retention_in_days(RETENTION_DAYS)
            .send()
            .await
            .map_err(|e| failed("setting the log group's retention", e))?;
    }
    Ok(())
}

/// Deletes the log group; false when it was not there.
pub async fn delete_log_group(logs: &Client, name: &str) -> Result<bool> {
    let answer = logs.delete_log_group().log_group_name(name).send().await;
    super::changed("deleting the log group", answer, |e| e.is_resource_not_found_exception())
}

#[cfg(test)]
mod tests {
    #[test]
    fn retention_is_compared_with_the_wanted_days() {
        let wanted = super::RETENTION_DAYS;
        assert!(super::retention_diff(Some(wanted)).is_empty());
        assert_eq!(super::retention_diff(Some(1)).0, [format!("retention days 1 → {wanted}")]);
        // Never expire: what a log group made by hand keeps.
        assert_eq!(super::retention_diff(None).0, [format!("retention days none → {wanted}")]);
    }
}
