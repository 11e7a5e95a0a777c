//! `--secret NAME=REF`: SSM parameters and Secrets Manager secrets the app's container gets as
//! variables. ECS reads their values when a task starts, with the task execution role; aws-app
//! reads only their metadata (DescribeParameters, DescribeSecret, and DescribeKey for the KMS
//! key that encrypts them), never a value. Each reference resolves to the ARN ECS's `valueFrom`
//! takes, and together they make the execution role's inline policy (`POLICY_NAME`): read
//! exactly these parameters and secrets, and decrypt with their customer managed keys. A
//! reference that names nothing (or two things) is exit 2 before anything is changed.

use std::collections::BTreeSet;

use aws_config::Region;
use aws_sdk_kms::types::KeyManagerType;
use aws_sdk_ssm::types::ParameterStringFilter;

use super::{Aws, failed, found};
use crate::error::{Error, Result};

/// The execution role's inline policy that lets ECS read the app's secrets.
pub const POLICY_NAME: &str = "aws-app-secrets";

/// IAM's limit on a role's inline policies together (characters without whitespace).
const MAX_POLICY_CHARS: usize = 10_240;

/// What a `--secret` reference names, read from its text alone (`Reference::parse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// An SSM parameter by ARN, with its region and its name (`/a/b`, or `x` at the top level).
    ParameterArn { arn: String, region: String, name: String },
    /// A Secrets Manager secret by ARN (its seven ARN fields) in `region`, with ECS's
    /// `json-key:version-stage:version-id` when one was given.
    SecretArn { arn: String, region: String, suffix: Option<String> },
    /// A name in the deploy's region: an SSM parameter's or a Secrets Manager secret's (with a
    /// `:json-key[:version-stage[:version-id]]` after it, a secret's only).
    Name { name: String, suffix: Option<String> },
}

const ARN_FORMS: &str = "arn:aws:ssm:REGION:ACCOUNT:parameter/NAME or \
     arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME";

impl Reference {
    /// The reference in `text`, or why it cannot be one (for an exit 2 message).
    pub fn parse(text: &str) -> std::result::Result<Reference, String> {
        if text.is_empty() {
            return Err("the reference is empty: give an SSM parameter or Secrets Manager secret \
                        (its name or ARN)"
                .to_string());
        }
        if text.len() > 2048 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "'{text}' is not a parameter or secret name (no spaces, at most 2048 characters)"
            ));
        }
        if text.starts_with("arn:") {
            return Self::parse_arn(text);
        }
        let (name, suffix) = match text.split_once(':') {
            Some((name, rest)) => (name, suffix(rest)?),
            None => (text, None),
        };
        // SSM's name characters and Secrets Manager's, together.
        let allowed = |c: char| c.is_ascii_alphanumeric() || "/_.-+=@".contains(c);
        if name.is_empty() || !name.chars().all(allowed) {
            return Err(format!(
                "'{name}' is not a parameter or secret name (letters, digits and /_.-+=@), \
                 nor an ARN ({ARN_FORMS})"
            ));
        }
        check_name_length(name)?;
        Ok(Reference::Name { name: name.to_string(), suffix })
    }

    fn parse_arn(text: &str) -> std::result::Result<Reference, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let bad = || format!("'{text}' is not the ARN of a parameter or a secret: use {ARN_FORMS}");
        if parts.len() < 6 || parts[1].is_empty() || parts[3].is_empty() {
            return Err(bad());
        }
        let account_ok = parts[4].len() == 12 && parts[4].chars().all(|c| c.is_ascii_digit());
        let region = parts[3].to_string();
        match parts[2] {
            "ssm" if parts.len() == 6 && account_ok => {
                let Some(path) = parts[5].strip_prefix("parameter/").filter(|p| !p.is_empty())
                else {
                    return Err(bad());
                };
                // `parameter/prod/db` is the parameter `/prod/db`; `parameter/db` is `db`.
                let name = if path.contains('/') { format!("/{path}") } else { path.to_string() };
                check_name_length(&name)?;
                Ok(Reference::ParameterArn { arn: text.to_string(), region, name })
            }
            "secretsmanager" if parts.len() >= 7 && parts[5] == "secret" && account_ok => {
                if parts[6].is_empty() {
                    return Err(bad());
                }
                let arn = parts[..7].join(":");
                let suffix = match parts.len() {
                    7 => None,
                    _ => suffix(&parts[7..].join(":"))?,
                };
                Ok(Reference::SecretArn { arn, region, suffix })
            }
            _ => Err(bad()),
        }
    }
}

/// The longest name either store takes: SSM's 1,011 characters (Secrets Manager's are 512).
/// DescribeParameters refuses a filter value over 1,024, so a longer name is refused here.
const MAX_NAME_CHARS: usize = 1011;

fn check_name_length(name: &str) -> std::result::Result<(), String> {
    match name.len() > MAX_NAME_CHARS {
        true => Err(format!(
            "the name is {} characters: SSM parameter names have at most {MAX_NAME_CHARS}, \
             Secrets Manager names 512",
            name.len()
        )),
        false => Ok(()),
    }
}

/// ECS's `json-key:version-stage:version-id` from what follows a secret (`key`, `key:stage`,
/// ...), all three fields spelled out; None when all are empty.
fn suffix(text: &str) -> std::result::Result<Option<String>, String> {
    let fields: Vec<&str> = text.split(':').collect();
    if fields.len() > 3 {
        return Err(format!(
            "'{text}' after a secret has more than json-key:version-stage:version-id"
        ));
    }
    if fields.iter().all(|f| f.is_empty()) {
        return Ok(None);
    }
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    Ok(Some(format!("{}:{}:{}", field(0), field(1), field(2))))
}

/// The secrets of a deploy as ECS and IAM take them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// `(variable, valueFrom)`, sorted by variable: valueFrom is the parameter's or secret's
    /// full ARN (a secret's with its json-key suffix).
    pub secrets: Vec<(String, String)>,
    /// The execution role's inline policy (`POLICY_NAME`); None without secrets.
    pub policy: Option<String>,
}

/// What the execution role must be allowed to read.
#[derive(Debug, Default)]
struct Access {
    parameters: BTreeSet<String>,
    secrets: BTreeSet<String>,
    keys: BTreeSet<String>,
}

impl Access {
    /// The inline policy allowing exactly this; None when there is nothing to allow.
    fn policy(&self) -> Option<String> {
        let statement = |sid: &str, action: &str, arns: &BTreeSet<String>| {
            (!arns.is_empty()).then(|| {
                serde_json::json!({"Sid": sid, "Effect": "Allow", "Action": action, "Resource": arns})
            })
        };
        let statements: Vec<serde_json::Value> = [
            statement("ReadTheAppsParameters", "ssm:GetParameters", &self.parameters),
            statement("ReadTheAppsSecrets", "secretsmanager:GetSecretValue", &self.secrets),
            statement("DecryptWithTheirKeys", "kms:Decrypt", &self.keys),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!statements.is_empty()).then(|| {
            serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
        })
    }
}

/// What a parameter's or secret's metadata says: its ARN (when the answer has it) and the KMS
/// key that encrypts it (when it is not the service's default key).
struct Found {
    arn: Option<String>,
    key: Option<String>,
}

/// A client of `$sdk` for `region`: the run's own, or one like it in another region (a
/// reference by ARN may point there).
macro_rules! in_region {
    ($client:expr, $sdk:ident, $aws:expr, $region:expr) => {
        if $region == $aws.region {
            $client.clone()
        } else {
            let config = $client.config().to_builder().region(Region::new($region.to_string()));
            $sdk::Client::from_conf(config.build())
        }
    };
}

/// Resolves `--secret`'s `(variable, reference)` pairs: each must name exactly one parameter
/// or secret (exit 2 otherwise, before anything is changed). Reads metadata only.
pub async fn resolve(aws: &Aws, wanted: &[(String, String)]) -> Result<Resolved> {
    let mut access = Access::default();
    let mut secrets = Vec::new();
    let mut identity: Option<(String, String)> = None;
    for (variable, text) in wanted {
        let reference = Reference::parse(text)
            .map_err(|why| Error::input(format!("--secret {variable}: {why}")))?;
        let missing = |what: &str, region: &str| {
            Error::input(format!(
                "--secret {variable}: no {what} in {region} that these credentials can see: \
                 create it (aws ssm put-parameter --type SecureString, or aws secretsmanager \
                 create-secret) or give the ARN of the one to use"
            ))
        };
        let (value_from, key, region) = match &reference {
            Reference::ParameterArn { arn, region, name } => {
                let found = parameter(aws, region, name).await?;
                let found = found.ok_or_else(|| {
                    missing(&format!("SSM parameter {name} (of this account)"), region)
                })?;
                access.parameters.insert(arn.clone());
                (arn.clone(), found.key, region.clone())
            }
            Reference::SecretArn { arn, region, suffix } => {
                let found = secret(aws, region, arn).await?;
                let found = found
                    .ok_or_else(|| missing(&format!("Secrets Manager secret {arn}"), region))?;
                let arn = found.arn.unwrap_or_else(|| arn.clone());
                access.secrets.insert(arn.clone());
                (with_suffix(&arn, suffix.as_deref()), found.key, region.clone())
            }
            Reference::Name { name, suffix } => {
                let region = aws.region.clone();
                let (as_parameter, as_secret) = match suffix {
                    Some(_) => (None, secret(aws, &region, name).await?),
                    None => {
                        let (p, s) =
                            tokio::join!(parameter(aws, &region, name), secret(aws, &region, name));
                        (p?, s?)
                    }
                };
                match (as_parameter, as_secret) {
                    (Some(_), Some(_)) => {
                        return Err(Error::input(format!(
                            "--secret {variable}: '{name}' is both an SSM parameter and a \
                             Secrets Manager secret in {region}: give the ARN of the one to use"
                        )));
                    }
                    (Some(found), None) => {
                        let arn = match found.arn {
                            Some(arn) => arn,
                            None => {
                                if identity.is_none() {
                                    identity = Some(caller(aws).await?);
                                }
                                let (partition, account) = identity.clone().unwrap_or_default();
                                parameter_arn(&partition, &region, &account, name)
                            }
                        };
                        access.parameters.insert(arn.clone());
                        (arn, found.key, region)
                    }
                    (None, Some(found)) => {
                        let arn = found.arn.ok_or_else(|| {
                            Error::failed(format!("DescribeSecret of {name} answered no ARN"))
                        })?;
                        access.secrets.insert(arn.clone());
                        (with_suffix(&arn, suffix.as_deref()), found.key, region)
                    }
                    (None, None) => {
                        let what = match suffix {
                            Some(_) => format!("Secrets Manager secret named {name}"),
                            None => format!("SSM parameter or Secrets Manager secret named {name}"),
                        };
                        return Err(missing(&what, &region));
                    }
                }
            }
        };
        if let Some(key) = key
            && let Some(arn) = customer_key(aws, &region, &key).await?
        {
            access.keys.insert(arn);
        }
        secrets.push((variable.clone(), value_from));
    }
    secrets.sort();
    let policy = access.policy();
    if let Some(policy) = &policy
        && policy.len() > MAX_POLICY_CHARS
    {
        return Err(Error::input(format!(
            "the --secret references make a role policy of {} characters, more than IAM's \
             {MAX_POLICY_CHARS}: keep related values in one Secrets Manager secret (JSON, one \
             json-key each)",
            policy.len()
        )));
    }
    Ok(Resolved { secrets, policy })
}

/// The reference ECS takes for a secret's ARN and json-key suffix.
fn with_suffix(arn: &str, suffix: Option<&str>) -> String {
    match suffix {
        Some(suffix) => format!("{arn}:{suffix}"),
        None => arn.to_string(),
    }
}

/// The ARN of the parameter `name` (`/a/b` is `parameter/a/b`, `x` is `parameter/x`).
fn parameter_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:ssm:{region}:{account}:parameter/{}", name.trim_start_matches('/'))
}

/// The partition and account of the credentials.
async fn caller(aws: &Aws) -> Result<(String, String)> {
    let me = aws.sts.get_caller_identity().send().await;
    let me = me.map_err(|e| failed("asking STS who these credentials are", e))?;
    let partition = me.arn().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
    Ok((partition, me.account().unwrap_or_default().to_string()))
}

/// The SSM parameter `name` in `region`, if there is one (its metadata: the value is not read).
async fn parameter(aws: &Aws, region: &str, name: &str) -> Result<Option<Found>> {
    let ssm = in_region!(aws.ssm, aws_sdk_ssm, aws, region);
    let filter = ParameterStringFilter::builder().key("Name").option("Equals").values(name);
    let filter = filter.build().map_err(|e| Error::failed(format!("parameter filter: {e}")))?;
    let answer = ssm.describe_parameters().parameter_filters(filter).send().await;
    let answer = answer.map_err(|e| failed(&format!("looking up the SSM parameter {name}"), e))?;
    let Some(meta) = answer.parameters().iter().find(|p| p.name() == Some(name)) else {
        return Ok(None);
    };
    let secure = meta.r#type() == Some(&aws_sdk_ssm::types::ParameterType::SecureString);
    let key = meta.key_id().filter(|_| secure).filter(|k| *k != "alias/aws/ssm");
    Ok(Some(Found { arn: meta.arn().map(str::to_string), key: key.map(str::to_string) }))
}

/// The Secrets Manager secret `id` (name or ARN) in `region`, if there is one (its metadata).
async fn secret(aws: &Aws, region: &str, id: &str) -> Result<Option<Found>> {
    let sm = in_region!(aws.secretsmanager, aws_sdk_secretsmanager, aws, region);
    let answer = sm.describe_secret().secret_id(id).send().await;
    let step = format!("looking up the Secrets Manager secret {id}");
    let Some(out) = found(&step, answer, |e| e.is_resource_not_found_exception())? else {
        return Ok(None);
    };
    // A secret scheduled for deletion cannot be read by ECS either.
    if out.deleted_date().is_some() {
        return Ok(None);
    }
    let key = out.kms_key_id().filter(|k| *k != "alias/aws/secretsmanager");
    Ok(Some(Found { arn: out.arn().map(str::to_string), key: key.map(str::to_string) }))
}

/// The ARN of `key` (an ID, ARN or alias) when it is a customer managed key, which the role must
/// be allowed to decrypt with; None for an AWS managed key (its key policy lets the service
/// decrypt for the account).
async fn customer_key(aws: &Aws, region: &str, key: &str) -> Result<Option<String>> {
    if key.starts_with("alias/aws/") {
        return Ok(None);
    }
    let kms = in_region!(aws.kms, aws_sdk_kms, aws, region);
    match kms.describe_key().key_id(key).send().await {
        Ok(out) => {
            let meta = out.key_metadata();
            if meta.and_then(|m| m.key_manager()) == Some(&KeyManagerType::Aws) {
                return Ok(None);
            }
            Ok(meta.and_then(|m| m.arn()).map(str::to_string).or_else(|| key_arn(key)))
        }
        // A key of another account that this one may use but not describe: by its ARN.
        Err(_) if key_arn(key).is_some() => Ok(key_arn(key)),
        Err(e) => Err(failed(&format!("looking up the KMS key {key}"), e)),
    }
}

/// `key` when it is a key's ARN.
fn key_arn(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split(':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[2] == "kms" && parts[5].starts_with("key/"))
        .then(|| key.to_string())
}

/// The variables of a revision's container that come from secrets, with their `valueFrom`,
/// sorted by variable.
pub fn secrets_of(td: &aws_sdk_ecs::types::TaskDefinition) -> Vec<(String, String)> {
    let container = td.container_definitions().first();
    let mut found: Vec<(String, String)> = container
        .map(|c| c.secrets())
        .unwrap_or_default()
        .iter()
        .map(|s| (s.name().to_string(), s.value_from().to_string()))
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_from_their_text() {
        let ok = |text: &str| Reference::parse(text).expect(text);
        assert_eq!(
            ok("/prod/db/password"),
            Reference::Name { name: "/prod/db/password".into(), suffix: None }
        );
        assert_eq!(
            ok("prod/api:token"),
            Reference::Name { name: "prod/api".into(), suffix: Some("token::".into()) }
        );
        assert_eq!(
            ok("arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db"),
            Reference::ParameterArn {
                arn: "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db".into(),
                region: "eu-west-1".into(),
                name: "/prod/db".into()
            }
        );
        assert_eq!(
            ok("arn:aws:ssm:us-east-1:123456789012:parameter/token"),
            Reference::ParameterArn {
                arn: "arn:aws:ssm:us-east-1:123456789012:parameter/token".into(),
                region: "us-east-1".into(),
                name: "token".into()
            }
        );
        let secret = "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db-AbCdEf";
        assert_eq!(
            ok(secret),
            Reference::SecretArn { arn: secret.into(), region: "cn-north-1".into(), suffix: None }
        );
        assert_eq!(
            ok(&format!("{secret}:password:AWSCURRENT")),
            Reference::SecretArn {
                arn: secret.into(),
                region: "cn-north-1".into(),
                suffix: Some("password:AWSCURRENT:".into())
            }
        );
        assert_eq!(ok(&format!("{secret}:::")), Reference::parse(secret).expect("bare"));
        for (bad, says) in [
            ("", "empty"),
            ("a b", "no spaces"),
            ("ab$c", "not a parameter or secret name"),
            (&"a".repeat(1012), "at most 1011"),
            (
                &format!("arn:aws:ssm:us-east-1:123456789012:parameter/{}", "a".repeat(1012)),
                "at most 1011",
            ),
            ("arn:aws:s3:::bucket", "not the ARN"),
            ("arn:aws:ssm:us-east-1:123:parameter/x", "not the ARN"),
            ("arn:aws:ssm:us-east-1:123456789012:document/x", "not the ARN"),
            ("arn:aws:secretsmanager:us-east-1:123456789012:secret:", "not the ARN"),
            ("db:a:b:c:d", "more than json-key"),
        ] {
            let why = Reference::parse(bad).expect_err(bad);
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn the_policy_allows_exactly_the_named_resources() {
        assert_eq!(Access::default().policy(), None);
        let access = Access {
            parameters: ["arn:aws:ssm:us-east-1:123456789012:parameter/b".to_string()].into(),
            secrets: ["arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf".to_string()]
                .into(),
            keys: BTreeSet::new(),
        };
        let policy: serde_json::Value =
            serde_json::from_str(&access.policy().expect("policy")).expect("JSON");
        let statements = policy["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 2, "no KMS statement without a customer key: {policy}");
        assert_eq!(statements[0]["Action"], "ssm:GetParameters");
        assert_eq!(
            statements[0]["Resource"],
            serde_json::json!(["arn:aws:ssm:us-east-1:123456789012:parameter/b"])
        );
        assert_eq!(statements[1]["Action"], "secretsmanager:GetSecretValue");
        assert!(statements.iter().all(|s| s["Effect"] == "Allow"));
        assert!(
            statements
                .iter()
                .all(|s| s["Sid"].as_str().is_some_and(|x| x.chars().all(char::is_alphanumeric)))
        );
        assert_eq!(
            parameter_arn("aws", "us-east-1", "123456789012", "/a/b"),
            "arn:aws:ssm:us-east-1:123456789012:parameter/a/b"
        );
        assert_eq!(key_arn("alias/mine"), None);
        let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(key_arn(key).as_deref(), Some(key));
    }
}
