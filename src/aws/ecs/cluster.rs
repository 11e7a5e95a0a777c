//! The cluster: found ACTIVE, or created.

use super::*;

/// The cluster of this name when it is ACTIVE (a deleted one stays INACTIVE for a while), with
/// its tags.
pub async fn find_cluster(ecs: &Client, name: &str) -> Result<Option<types::Cluster>> {
    let out = ecs
        .describe_clusters()
        .clusters(name)
        .include(types::ClusterField::Tags)
        .send()
        .await
        .map_err(|e| failed("finding the ECS cluster", e))?;
    Ok(out.clusters.unwrap_or_default().into_iter().find(|c| c.status() == Some("ACTIVE")))
}

/// Finds the cluster (ACTIVE) or creates it; returns its ARN.
pub async fn ensure_cluster(ecs: &Client, name: &str, tags: &Tags) -> Result<String> {
    if let Some(arn) = find_cluster(ecs, name).await?.and_then(|c| c.cluster_arn) {
        return Ok(arn);
    }
    // In a new account, ECS's service-linked role made a moment ago is not usable at once
    // ("Unable to assume the service linked role").
    let create = ecs.create_cluster().cluster_name(name).set_tags(Some(ecs_tags(tags)));
    retry_while("creating the ECS cluster", role_not_ready, || create.clone().send())
        .await?
        .cluster
        .and_then(|c| c.cluster_arn)
        .ok_or_else(|| Error::failed("creating the ECS cluster: no ARN in the answer"))
}

/// Deletes the cluster once the service being deleted, and its tasks, have left it.
pub async fn delete_cluster(ecs: &Client, name: &str) -> Result<()> {
    super::super::until_released(
        "deleting the ECS cluster",
        &["ClusterContainsServicesException", "ClusterContainsTasksException"],
        || ecs.delete_cluster().cluster(name).send(),
    )
    .await
}
