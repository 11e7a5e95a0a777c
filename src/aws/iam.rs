//! The task execution role ECS uses to pull the image and write logs: trusted by
//! ecs-tasks.amazonaws.com, with AWS's managed AmazonECSTaskExecutionRolePolicy, and with
//! `--secret` the inline policy that lets ECS read exactly the app's secrets
//! (`secrets::POLICY_NAME`).

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{AttachedPolicy, InstanceProfile, Role, Tag};

use super::change::{Change, Diff};
use super::{Tags, failed, found, retry_while};
use crate::error::{Error, Result};

/// AWS's managed policy for task execution roles, in the role's partition: `arn:aws:…` in the
/// commercial regions, `arn:aws-cn:…` in China, `arn:aws-us-gov:…` in GovCloud (an ARN of
/// another partition is refused by AttachRolePolicy).
fn execution_policy_arn(role_arn: &str) -> String {
    let partition = role_arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws");
    format!("arn:{partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
}

/// IAM descriptions take tab, newline and the printable Latin-1 range, up to 1000 characters.
const ROLE_DESCRIPTION: &str = "aws-app: lets ECS pull the app's image and write its logs";

const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// A role to find or create.
pub struct RoleSpec<'a> {
    pub name: &'a str,
    pub trust_policy: &'a str,
    pub description: &'a str,
    /// What the role is, for messages ("the task execution role").
    pub what: &'a str,
}

/// Finds the role or creates it with `tags` (and `extra_tags`); its ARN, and whether this call
/// created it (then IAM may not know it for a few seconds).
pub async fn find_or_create_role(
    iam: &Client,
    role: &RoleSpec<'_>,
    tags: &Tags,
    extra_tags: &[(&str, &str)],
) -> Result<(String, bool)> {
    let what = role.what;
    if let Some(found) = find_role(iam, role.name, what).await? {
        let arn = found.arn;
        return Ok((arn, false));
    }
    let mut create = iam
        .create_role()
        .role_name(role.name)
        .assume_role_policy_document(role.trust_policy)
        .description(role.description);
    let extra = extra_tags.iter().map(|(k, v)| (*k, (*v).to_string()));
    let pairs: Vec<(&str, String)> = tags.pairs().into_iter().chain(extra).collect();
    create = create.set_tags(Some(iam_tags(pairs)?));
    let arn = create
        .send()
        .await
        .map_err(|e| failed(&format!("creating {what}"), e))?
        .role
        .map(|r| r.arn)
        .ok_or_else(|| Error::failed(format!("creating {what}: empty answer")))?;
    Ok((arn, true))
}

/// The role of this name, if there is one.
pub async fn find_role(iam: &Client, name: &str, what: &str) -> Result<Option<Role>> {
    let answer = iam.get_role().role_name(name).send().await;
    let out = found(&format!("finding {what}"), answer, |e| e.is_no_such_entity_exception())?;
    Ok(out.and_then(|o| o.role))
}

/// Puts the prefix's tags on a role (`--adopt`).
pub async fn tag_role(iam: &Client, name: &str, tags: &Tags) -> Result<()> {
    let call = iam.tag_role().role_name(name).set_tags(Some(iam_tags(tags.pairs())?));
    call.send().await.map_err(|e| failed(&format!("tagging IAM role {name}"), e))?;
    Ok(())
}

/// Puts the prefix's tags on an instance profile (`--adopt`).
pub async fn tag_instance_profile(iam: &Client, name: &str, tags: &Tags) -> Result<()> {
    let call = iam.tag_instance_profile().instance_profile_name(name);
    let call = call.set_tags(Some(iam_tags(tags.pairs())?));
    call.send().await.map_err(|e| failed(&format!("tagging instance profile {name}"), e))?;
    Ok(())
}

pub(crate) fn iam_tags<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Result<Vec<Tag>> {
    let built: std::result::Result<Vec<Tag>, _> =
        pairs.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    built.map_err(|e| Error::failed(format!("tag: {e}")))
}

/// The instance profile of this name, if there is one.
pub async fn find_instance_profile(iam: &Client, name: &str) -> Result<Option<InstanceProfile>> {
    let answer = iam.get_instance_profile().instance_profile_name(name).send().await;
    let out = found("finding the builder's instance profile", answer, |e| {
        e.is_no_such_entity_exception()
    })?;
    Ok(out.and_then(|o| o.instance_profile))
}

/// Whether the execution role lacks the managed policy.
pub fn execution_policy_diff(role_arn: &str, attached: &[AttachedPolicy]) -> Diff {
    let policy = execution_policy_arn(role_arn);
    let mut diff = Diff::default();
    if !attached.iter().any(|p| p.policy_arn() == Some(policy.as_str())) {
        diff.note("AmazonECSTaskExecutionRolePolicy not attached → attached");
    }
    diff
}

/// The role's inline policy `policy` as a JSON document, if it has one (IAM answers it
/// URL-encoded).
async fn inline_policy(
    iam: &Client,
    role: &str,
    policy: &str,
) -> Result<Option<serde_json::Value>> {
    let answer = iam.get_role_policy().role_name(role).policy_name(policy).send().await;
    let step = format!("reading the policy {policy} of the IAM role {role}");
    let Some(out) = found(&step, answer, |e| e.is_no_such_entity_exception())? else {
        return Ok(None);
    };
    let text = out.policy_document();
    let parsed = serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&crate::config::percent_decode(text)))
        .map_err(|e| Error::failed(format!("{step}: not JSON: {e}")))?;
    Ok(Some(parsed))
}

/// How the secrets policy differs from `wanted` (None: the role should have none).
fn secrets_policy_diff(current: Option<&serde_json::Value>, wanted: Option<&str>) -> Diff {
    let wanted: Option<serde_json::Value> = wanted.and_then(|w| serde_json::from_str(w).ok());
    let mut diff = Diff::default();
    let name = super::secrets::POLICY_NAME;
    match (current, &wanted) {
        (None, Some(_)) => diff.note(format!("inline policy {name} → added")),
        (Some(_), None) => diff.note(format!("inline policy {name} → removed")),
        (Some(current), Some(wanted)) if current != wanted => {
            diff.note(format!("inline policy {name} → the secrets given"))
        }
        _ => {}
    }
    diff
}

/// What a deploy would do to the execution role and ECS's service-linked role, and the
/// execution role's ARN when it exists. `secrets_policy`: the inline policy `--secret` wants.
/// Reads only.
pub async fn plan(
    iam: &Client,
    name: &str,
    secrets_policy: Option<&str>,
) -> Result<(Vec<Change>, Option<String>)> {
    let linked = find_role(iam, SERVICE_LINKED_ROLE, "ECS's service-linked role").await?;
    let mut changes = vec![Change::from_diff(
        format!("IAM role {SERVICE_LINKED_ROLE}"),
        linked.is_some(),
        Diff::default(),
    )];
    let role = find_role(iam, name, "the task execution role").await?;
    let diff = match &role {
        Some(role) => {
            let attached = iam
                .list_attached_role_policies()
                .role_name(name)
                .send()
                .await
                .map_err(|e| failed("reading the role's policies", e))?;
            let mut diff = execution_policy_diff(&role.arn, attached.attached_policies());
            let current = inline_policy(iam, name, super::secrets::POLICY_NAME).await?;
            for note in secrets_policy_diff(current.as_ref(), secrets_policy).0 {
                diff.note(note);
            }
            diff
        }
        None => Diff::default(),
    };
    changes.push(Change::from_diff(format!("IAM role {name}"), role.is_some(), diff));
    Ok((changes, role.map(|r| r.arn)))
}

const SERVICE_LINKED_ROLE: &str = "AWSServiceRoleForECS";

/// Finds or creates the role, attaches the managed policy, and puts (or, without secrets,
/// deletes) the inline policy for the app's secrets; returns the role's ARN.
pub async fn ensure_execution_role(
    iam: &Client,
    name: &str,
    tags: &Tags,
    secrets_policy: Option<&str>,
) -> Result<String> {
    let spec = RoleSpec {
        name,
        trust_policy: TRUST_POLICY,
        description: ROLE_DESCRIPTION,
        what: "the task execution role",
    };
    let (arn, created) = find_or_create_role(iam, &spec, tags, &[]).await?;
    // IAM is eventually consistent: a role made a moment ago may be "not found" by the next
    // calls for a few seconds. A role that was there before is not waited for.
    let settling = |code: Option<&str>, _: Option<&str>| created && code == Some("NoSuchEntity");
    let attached = retry_while("reading the role's policies", settling, || {
        iam.list_attached_role_policies().role_name(name).send()
    })
    .await?;
    let policy = execution_policy_arn(&arn);
    if !execution_policy_diff(&arn, attached.attached_policies()).is_empty() {
        retry_while("attaching AmazonECSTaskExecutionRolePolicy", settling, || {
            iam.attach_role_policy().role_name(name).policy_arn(&policy).send()
        })
        .await?;
    }
    put_secrets_policy(iam, name, secrets_policy, created).await?;
    Ok(arn)
}

/// Puts the inline policy for the app's secrets on the execution role `name` when it differs
/// from `policy`, or deletes it when there is none to put. `created`: the role was made a
/// moment ago (it has no inline policy, and IAM may not know it yet).
pub async fn put_secrets_policy(
    iam: &Client,
    name: &str,
    policy: Option<&str>,
    created: bool,
) -> Result<()> {
    let inline = super::secrets::POLICY_NAME;
    let current = match created {
        true => None,
        false => inline_policy(iam, name, inline).await?,
    };
    if secrets_policy_diff(current.as_ref(), policy).is_empty() {
        return Ok(());
    }
    let settling = |code: Option<&str>, _: Option<&str>| created && code == Some("NoSuchEntity");
    match policy {
        Some(document) => {
            retry_while(
                &format!("putting the policy {inline} on the role {name}"),
                settling,
                || {
                    iam.put_role_policy()
                        .role_name(name)
                        .policy_name(inline)
                        .policy_document(document)
                        .send()
                },
            )
            .await?;
        }
        None => {
            let answer = iam.delete_role_policy().role_name(name).policy_name(inline).send().await;
            let step = format!("deleting the policy {inline} of the role {name}");
            super::changed(&step, answer, |e| e.is_no_such_entity_exception())?;
        }
    }
    Ok(())
}

/// ECS's service-linked role, which a fresh account lacks until ECS is first used: CreateService
/// fails without it. Made here (once) with a remedy when the credentials may not.
pub async fn ensure_ecs_service_linked_role(iam: &Client) -> Result<()> {
    if find_role(iam, SERVICE_LINKED_ROLE, "ECS's service-linked role").await?.is_some() {
        return Ok(());
    }
    match iam.create_service_linked_role().aws_service_name("ecs.amazonaws.com").send().await {
        Ok(_) => Ok(()),
        // Made by someone else meanwhile ("has been taken in this account"), or already there.
        // (EntityAlreadyExists is not in this operation's model, hence the code.)
        Err(e)
            if e.as_service_error().is_some_and(|s| s.is_invalid_input_exception())
                || aws_sdk_iam::error::ProvideErrorMetadata::code(&e)
                    == Some("EntityAlreadyExists") =>
        {
            Ok(())
        }
        Err(e) if aws_sdk_iam::error::ProvideErrorMetadata::code(&e) == Some("AccessDenied") => {
            Err(Error::failed(
                "these credentials may not create ECS's service-linked role: have an administrator \
                 run `aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com` once",
            ))
        }
        Err(e) => Err(failed("creating ECS's service-linked role", e)),
    }
}

/// Deletes a role: its managed policies detached and the `inline` policies deleted first; false
/// when it was not there.
pub async fn delete_role(iam: &Client, name: &str, inline: &[&str]) -> Result<bool> {
    let answer = iam.list_attached_role_policies().role_name(name).send().await;
    let step = format!("finding the IAM role {name}");
    let Some(attached) = found(&step, answer, |e| e.is_no_such_entity_exception())? else {
        return Ok(false);
    };
    for policy in attached.attached_policies() {
        iam.detach_role_policy()
            .role_name(name)
            .set_policy_arn(policy.policy_arn().map(str::to_string))
            .send()
            .await
            .map_err(|e| failed(&format!("detaching a policy of the IAM role {name}"), e))?;
    }
    for policy in inline {
        let answer = iam.delete_role_policy().role_name(name).policy_name(*policy).send().await;
        let step = format!("deleting the policy {policy} of the IAM role {name}");
        super::changed(&step, answer, |e| e.is_no_such_entity_exception())?;
    }
    let answer = iam.delete_role().role_name(name).send().await;
    super::changed(&format!("deleting the IAM role {name}"), answer, |e| {
        e.is_no_such_entity_exception()
    })
}

/// Deletes an instance profile, emptied of its roles first; false when it was not there.
pub async fn delete_instance_profile(iam: &Client, name: &str) -> Result<bool> {
    let Some(profile) = find_instance_profile(iam, name).await? else {
        return Ok(false);
    };
    for role in profile.roles() {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(role.role_name())
            .send()
            .await
            .map_err(|e| failed(&format!("emptying the instance profile {name}"), e))?;
    }
    let answer = iam.delete_instance_profile().instance_profile_name(name).send().await;
    super::changed(&format!("deleting the instance profile {name}"), answer, |e| {
        e.is_no_such_entity_exception()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_secrets_policy_is_compared_as_json() {
        let wanted = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameters","Resource":["arn:x"]}]}"#;
        let same: serde_json::Value =
            serde_json::from_str(&wanted.replace(',', ", ")).expect("JSON");
        assert!(super::secrets_policy_diff(Some(&same), Some(wanted)).is_empty());
        assert!(super::secrets_policy_diff(None, None).is_empty());
        let other = serde_json::json!({"Version": "2012-10-17", "Statement": []});
        let changed = super::secrets_policy_diff(Some(&other), Some(wanted)).0;
        assert_eq!(changed, ["inline policy aws-app-secrets → the secrets given"]);
        assert_eq!(
            super::secrets_policy_diff(None, Some(wanted)).0,
            ["inline policy aws-app-secrets → added"]
        );
        assert_eq!(
            super::secrets_policy_diff(Some(&other), None).0,
            ["inline policy aws-app-secrets → removed"]
        );
    }

    #[test]
    fn the_managed_policy_is_named_in_the_roles_partition() {
        for (role, policy) in [
            ("arn:aws:iam::123456789012:role/ann-aws-app-task-execution", "arn:aws:"),
            ("arn:aws-cn:iam::123456789012:role/ann-aws-app-task-execution", "arn:aws-cn:"),
            ("arn:aws-us-gov:iam::123456789012:role/x", "arn:aws-us-gov:"),
            ("not an arn", "arn:aws:"),
        ] {
            let arn = super::execution_policy_arn(role);
            assert!(arn.starts_with(policy), "{role}: {arn}");
            assert!(
                arn.ends_with(":iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
            );
        }
    }
}
