//! The image's registry: the `<prefix>-aws-app` ECR repository (scan on push, immutable tags,
//! a lifecycle policy keeping the last images) and the credentials to push to it, from
//! GetAuthorizationToken. `AWS_APP_REGISTRY=host:port` pushes to that registry instead (a
//! mirror, a local test registry); the ECR repository is still ensured.

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Tag};
use bollard::auth::DockerCredentials;

use super::change::{Change, Diff};
use super::{Tags, changed, failed, found};
use crate::error::{Error, Result};

/// The tag an image gets when a service is about to run it (`deployed-<digest hex>`): the
/// lifecycle policy's first rule keeps the last N images so tagged, whatever was pushed since,
/// so neither the image that runs nor the one rollback returns to expires.
pub const DEPLOYED_TAG_PREFIX: &str = "deployed-";

/// Two rules: the last `keep` deployed images stay; any other image expires once `keep` newer
/// images (deployed ones included) were pushed. ECR never lets a lower-priority rule expire an
/// image a higher one selects, though it counts it; and the `any` rule must come last.
pub fn lifecycle_policy(keep: u32) -> String {
    serde_json::json!({"rules": [
        {
            "rulePriority": 1,
            "description": format!("keep the last {keep} deployed images"),
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [DEPLOYED_TAG_PREFIX],
                "countType": "imageCountMoreThan",
                "countNumber": keep,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": format!("other images: keep those among the {keep} newest"),
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
            "action": {"type": "expire"},
        },
    ]})
    .to_string()
}

/// Where images are pushed, with the credentials for it (none for an override registry).
#[derive(Debug, Clone)]
pub struct Registry {
    /// `host[:port]` as it appears in image references.
    pub host: String,
    pub credentials: Option<DockerCredentials>,
}

/// The repository's ARN, if there is one of this name.
pub async fn find_repository(ecr: &Client, name: &str) -> Result<Option<String>> {
    let answer = ecr.describe_repositories().repository_names(name).send().await;
    let out =
        found("finding the ECR repository", answer, |e| e.is_repository_not_found_exception())?;
    Ok(out
        .and_then(|o| o.repositories().first().and_then(|r| r.repository_arn()).map(String::from)))
}

/// The repository's tags, as key and value.
pub async fn repository_tags(ecr: &Client, arn: &str) -> Result<Vec<(String, String)>> {
    let out = ecr
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| failed("reading the ECR repository's tags", e))?;
    Ok(out.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect())
}

/// Puts the prefix's tags on the repository (`--adopt`).
pub async fn tag_repository(ecr: &Client, arn: &str, tags: &Tags) -> Result<()> {
    let call = ecr.tag_resource().resource_arn(arn).set_tags(Some(ecr_tags(tags)?));
    call.send().await.map_err(|e| failed("tagging the ECR repository", e))?;
    Ok(())
}

fn ecr_tags(tags: &Tags) -> Result<Vec<Tag>> {
    let tag = |(k, v): (&str, String)| Tag::builder().key(k).value(v).build();
    let built: std::result::Result<Vec<Tag>, _> = tags.pairs().into_iter().map(tag).collect();
    built.map_err(|e| Error::failed(format!("tag: {e}")))
}

/// The repository's lifecycle policy text, if it has one.
async fn find_lifecycle_policy(ecr: &Client, name: &str) -> Result<Option<String>> {
    let answer = ecr.get_lifecycle_policy().repository_name(name).send().await;
    let out = found("reading the ECR lifecycle policy", answer, |e| {
        e.is_lifecycle_policy_not_found_exception() || e.is_repository_not_found_exception()
    })?;
    Ok(out.and_then(|o| o.lifecycle_policy_text))
}

/// What differs between the repository's lifecycle policy and the one keeping `keep` images.
pub fn lifecycle_diff(found: Option<&str>, keep: u32) -> Diff {
    let mut diff = Diff::default();
    if found.map(normalize) != Some(normalize(&lifecycle_policy(keep))) {
        diff.note(match found {
            Some(_) => format!("lifecycle policy → keep {keep} images"),
            None => format!("no lifecycle policy → keep {keep} images"),
        });
    }
    diff
}

/// What a deploy would do to the repository, and the bytes its images take (for the cost
/// estimate). Reads only.
pub async fn plan(ecr: &Client, name: &str, keep: u32) -> Result<(Change, u64)> {
    let what = format!("ECR repository {name}");
    if find_repository(ecr, name).await?.is_none() {
        return Ok((Change::new(what, super::change::Action::Create), 0));
    }
    let policy = find_lifecycle_policy(ecr, name).await?;
    let images = ecr
        .describe_images()
        .repository_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut bytes = 0_u64;
    for image in images {
        let image = image.map_err(|e| failed("listing the repository's images", e))?;
        bytes += image.image_size_in_bytes().and_then(|b| u64::try_from(b).ok()).unwrap_or(0);
    }
    Ok((Change::from_diff(what, true, lifecycle_diff(policy.as_deref(), keep)), bytes))
}

/// Finds or creates the repository and puts its lifecycle policy when it differs.
pub async fn ensure_repository(ecr: &Client, name: &str, tags: &Tags, keep: u32) -> Result<()> {
    if find_repository(ecr, name).await?.is_none() {
        let mut create = ecr
            .create_repository()
            .repository_name(name)
            .image_tag_mutability(ImageTagMutability::Immutable)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder().scan_on_push(true).build(),
            );
        create = create.set_tags(Some(ecr_tags(tags)?));
        changed("creating the ECR repository", create.send().await, |e| {
            e.is_repository_already_exists_exception()
        })?;
    }
    let current = find_lifecycle_policy(ecr, name).await?;
    if !lifecycle_diff(current.as_deref(), keep).is_empty() {
        ecr.put_lifecycle_policy()
            .repository_name(name)
            .lifecycle_policy_text(lifecycle_policy(keep))
            .send()
            .await
            .map_err(|e| failed("setting the ECR lifecycle policy", e))?;
    }
    Ok(())
}

/// JSON text compared without its whitespace (ECR may return it reformatted).
fn normalize(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json).map(|v| v.to_string()).unwrap_or_default()
}

/// The registry to push to: `AWS_APP_REGISTRY`, else the account's ECR registry with a token.
pub async fn registry(ecr: &Client) -> Result<Registry> {
    if let Ok(host) = std::env::var("AWS_APP_REGISTRY")
        && !host.trim().is_empty()
    {
        return Ok(Registry { host: host.trim().to_string(), credentials: None });
    }
    let out = ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| failed("getting an ECR login token", e))?;
    let data = out
        .authorization_data()
        .first()
        .ok_or_else(|| Error::failed("getting an ECR login token: empty answer"))?;
    let token = data.authorization_token().unwrap_or_default();
    let decoded = aws_smithy_types::base64::decode(token)
        .map_err(|e| Error::failed(format!("the ECR login token is not base64: {e}")))?;
    let decoded = String::from_utf8_lossy(&decoded);
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| Error::failed("the ECR login token is not user:password"))?;
    let endpoint = data.proxy_endpoint().unwrap_or_default();
    let host = endpoint.trim_start_matches("https://").trim_start_matches("http://").to_string();
    if host.is_empty() {
        return Err(Error::failed("the ECR login token names no registry"));
    }
    Ok(Registry {
        credentials: Some(DockerCredentials {
            username: Some(username.to_string()),
            password: Some(password.to_string()),
            serveraddress: Some(endpoint.to_string()),
            ..Default::default()
        }),
        host,
    })
}

/// The repository's image with this tag or digest, if it has one ("not found" is `None`).
async fn find_image(
    ecr: &Client,
    repo: &str,
    id: aws_sdk_ecr::types::ImageIdentifier,
    step: &str,
) -> Result<Option<aws_sdk_ecr::types::ImageDetail>> {
    let answer = ecr.describe_images().repository_name(repo).image_ids(id).send().await;
    let out = found(step, answer, |e| e.is_image_not_found_exception())?;
    Ok(out.and_then(|o| o.image_details.unwrap_or_default().into_iter().next()))
}

/// Whether the repository has an image tagged `tag`.
pub async fn has_image(ecr: &Client, repo: &str, tag: &str) -> Result<bool> {
    let id = aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(tag).build();
    Ok(find_image(ecr, repo, id, "looking for the commit's image in ECR").await?.is_some())
}

/// Tags the image `digest` `deployed-<hex>` (once; the tag names the image, so it never moves)
/// before a service runs it: the lifecycle policy keeps deployed images apart from builds.
/// `false` when ECR no longer has the image (expired or deleted).
pub async fn protect(ecr: &Client, repo: &str, digest: &str) -> Result<bool> {
    let tag = format!("{DEPLOYED_TAG_PREFIX}{}", digest.trim_start_matches("sha256:"));
    let id = || aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(digest).build();
    let Some(image) = find_image(ecr, repo, id(), "looking for the image in ECR").await? else {
        return Ok(false);
    };
    // Tagged by an earlier deploy of this image: nothing to write.
    if image.image_tags().contains(&tag) {
        return Ok(true);
    }
    // ECR's own way to add a tag: the manifest as stored (no accepted media types asked, so
    // an index comes back as it was pushed), put again under the new tag.
    let got = ecr
        .batch_get_image()
        .repository_name(repo)
        .image_ids(id())
        .send()
        .await
        .map_err(|e| failed("reading the image's manifest from ECR", e))?;
    let Some(image) = got.images().first() else {
        // Gone since DescribeImages (expired, deleted): as not there. Any other failure (a
        // manifest type ECR would not hand back, say) is said as ECR gave it.
        return match got.failures().first() {
            Some(f) if f.failure_code().is_some_and(|c| c.as_str() != "ImageNotFound") => {
                Err(Error::failed(format!(
                    "reading the image's manifest from ECR: {}: {}",
                    f.failure_code().map_or("", |c| c.as_str()),
                    f.failure_reason().unwrap_or("no reason given")
                )))
            }
            _ => Ok(false),
        };
    };
    let put = ecr
        .put_image()
        .repository_name(repo)
        .image_manifest(image.image_manifest().unwrap_or_default())
        .set_image_manifest_media_type(image.image_manifest_media_type().map(str::to_string))
        .image_digest(digest)
        .image_tag(&tag)
        .send()
        .await;
    // Tagged by another run meanwhile is as good.
    changed("tagging the image as deployed in ECR", put, |e| {
        e.is_image_already_exists_exception() || e.is_image_tag_already_exists_exception()
    })?;
    Ok(true)
}

/// What ECR's scan on push found in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    /// `COMPLETE` (basic scanning), `ACTIVE` (enhanced), `IN_PROGRESS`, `PENDING`, `FAILED`, …
    pub status: String,
    pub critical: i32,
    pub high: i32,
}

impl std::fmt::Display for ScanSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status.as_str() {
            // ACTIVE: enhanced scanning (Inspector) watches the image; its counts are current.
            "COMPLETE" | "ACTIVE" => write!(f, "{} critical, {} high", self.critical, self.high),
            "IN_PROGRESS" | "PENDING" => {
                write!(f, "in progress (`status` shows the findings once it is done)")
            }
            other => write!(f, "{}", other.to_lowercase().replace('_', " ")),
        }
    }
}

impl ScanSummary {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"status": self.status, "critical": self.critical, "high": self.high})
    }
}

/// The CRITICAL/HIGH counts of ECR's scan of the image `digest`, when ECR has the image and a
/// scan of it. Informational: any error (no scan, no image, no permission) is None.
pub async fn scan_summary(ecr: &Client, repo: &str, digest: &str) -> Option<ScanSummary> {
    let out = ecr
        .describe_image_scan_findings()
        .repository_name(repo)
        .image_id(aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(digest).build())
        .send()
        .await
        .ok()?;
    let status = out.image_scan_status()?.status()?.as_str().to_string();
    let counts = out.image_scan_findings().and_then(|f| f.finding_severity_counts());
    let count = |severity: aws_sdk_ecr::types::FindingSeverity| {
        counts.and_then(|c| c.get(&severity)).copied().unwrap_or(0)
    };
    Some(ScanSummary {
        status,
        critical: count(aws_sdk_ecr::types::FindingSeverity::Critical),
        high: count(aws_sdk_ecr::types::FindingSeverity::High),
    })
}

/// Deletes the repository with its images; false when it was not there.
pub async fn delete_repository(ecr: &Client, name: &str) -> Result<bool> {
    let answer = ecr.delete_repository().repository_name(name).force(true).send().await;
    super::changed("deleting the ECR repository", answer, |e| e.is_repository_not_found_exception())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_policy_is_compared_as_json_not_as_text() {
        let ours = lifecycle_policy(10);
        assert!(lifecycle_diff(Some(&ours), 10).is_empty());
        // ECR gives the policy back with its own spacing and key order.
        let respaced = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&ours).expect("json"),
        )
        .expect("json");
        assert!(lifecycle_diff(Some(&respaced), 10).is_empty());
        assert_eq!(lifecycle_diff(Some(&ours), 5).0, ["lifecycle policy → keep 5 images"]);
        assert_eq!(lifecycle_diff(None, 10).0, ["no lifecycle policy → keep 10 images"]);
        assert_eq!(
            lifecycle_diff(Some("{\"rules\": []}"), 10).0,
            ["lifecycle policy → keep 10 images"]
        );
    }
}
