//! The task definition: a new revision only when the latest one says something else.

use super::*;

/// The family's latest revision when it is ACTIVE.
pub async fn find_task_definition(
    ecs: &Client,
    family: &str,
) -> Result<Option<types::TaskDefinition>> {
    Ok(find_latest_revision(ecs, family).await?.map(|(td, _)| td))
}

/// The family's latest ACTIVE revision with its tags.
pub async fn find_latest_revision(
    ecs: &Client,
    family: &str,
) -> Result<Option<(types::TaskDefinition, Vec<Tag>)>> {
    let answer = ecs
        .describe_task_definition()
        .task_definition(family)
        .include(types::TaskDefinitionField::Tags)
        .send()
        .await;
    // No revision of the family yet: ECS answers with a client error.
    let out = found("reading the task definition", answer, |e| e.is_client_exception())?;
    Ok(out.and_then(|o| {
        let td = o.task_definition?;
        (td.status().map(|s| s.as_str()) == Some("ACTIVE"))
            .then(|| (td, o.tags.unwrap_or_default()))
    }))
}

/// The labels of a revision's (first and only) container: what aws-app recorded of the build.
pub fn labels_of(td: &types::TaskDefinition) -> HashMap<String, String> {
    let container = td.container_definitions().first();
    container.and_then(|c| c.docker_labels()).cloned().unwrap_or_default()
}

/// One label of a revision's container.
pub fn label_of<'a>(td: &'a types::TaskDefinition, key: &str) -> Option<&'a str> {
    let container = td.container_definitions().first();
    container.and_then(|c| c.docker_labels()).and_then(|l| l.get(key)).map(String::as_str)
}

/// The image a revision runs (`registry/repo@sha256:…`).
pub fn image_of(td: &types::TaskDefinition) -> Option<&str> {
    td.container_definitions().first().and_then(|c| c.image())
}

/// What differs between a revision and what `spec` says.
pub fn task_definition_diff(current: &types::TaskDefinition, spec: &TaskSpec) -> Diff {
    let mut diff = Diff::default();
    let container = current.container_definitions().first();
    let labels = labels_of(current);
    let short = |commit: &str| commit.chars().take(12).collect::<String>();
    diff.compare("commit", labels.get(COMMIT_LABEL).map(|c| short(c)), short(&spec.commit));
    if image_of(current) != Some(spec.image.as_str()) {
        diff.note("image → this build's");
    }
    if !labels_current(spec.labels.as_ref(), &labels) {
        diff.note("build labels → this build's");
    }
    diff.compare("cpu", current.cpu(), spec.cpu.to_string().as_str());
    diff.compare("memory", current.memory(), spec.memory.to_string().as_str());
    diff.compare("execution role", current.execution_role_arn(), spec.execution_role_arn.as_str());
    let architecture = current.runtime_platform().and_then(|p| p.cpu_architecture());
    let wanted = spec.cpu_architecture().ok();
    diff.compare(
        "architecture",
        architecture.map(|a| a.as_str()),
        wanted.as_ref().map_or(spec.architecture.as_str(), |a| a.as_str()),
    );
    diff.compare("container", container.and_then(|c| c.name()), CONTAINER);
    for difference in environment_diff("variable", &environment_of(current), &spec.environment) {
        diff.note(difference);
    }
    let secrets = crate::aws::secrets::secrets_of(current);
    for difference in environment_diff("secret", &secrets, &spec.secrets) {
        diff.note(difference);
    }
    let port = i32::from(spec.port);
    if !container
        .is_some_and(|c| c.port_mappings().iter().any(|p| p.container_port() == Some(port)))
    {
        diff.note(format!("port → {port}"));
    }
    let group = container
        .and_then(|c| c.log_configuration())
        .and_then(|l| l.options())
        .and_then(|o| o.get("awslogs-group"));
    diff.compare("log group", group.map(String::as_str), spec.log_group.as_str());
    diff
}

/// The latest revision of the family when it already says what `spec` says; otherwise a new
/// revision. Returns its ARN and whether it was registered now.
pub async fn ensure_task_definition(
    ecs: &Client,
    spec: &TaskSpec,
    tags: &Tags,
) -> Result<TaskDefinition> {
    let architecture = spec.cpu_architecture()?;
    let current = find_task_definition(ecs, &spec.family).await?;
    let current_labels = current.as_ref().map(labels_of).unwrap_or_default();
    let same_image = current.as_ref().and_then(image_of) == Some(spec.image.as_str());
    if let Some(current) = &current
        && task_definition_diff(current, spec).is_empty()
        && let Some(arn) = current.task_definition_arn()
    {
        let page = current_labels.get(PAGE_LABEL).cloned();
        let arn = arn.to_string();
        return Ok(TaskDefinition { arn, registered: false, page, labels: current_labels });
    }

    // Labels of this build; an image this run did not build keeps what the revision that runs
    // it says (a new revision for another size, say, still knows its page and inputs).
    let mut labels = match (&spec.labels, same_image) {
        (Some(labels), _) => labels.clone(),
        (None, true) => current_labels,
        (None, false) => HashMap::new(),
    };
    labels.insert(COMMIT_LABEL.to_string(), spec.commit.clone());
    let page = labels.get(PAGE_LABEL).cloned();
    let container = container_definition(spec, labels.clone())?;
    let registered = ecs
        .register_task_definition()
        .family(&spec.family)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu(spec.cpu.to_string())
        .memory(spec.memory.to_string())
        .execution_role_arn(&spec.execution_role_arn)
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(architecture)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .container_definitions(container)
        .set_tags(Some(ecs_tags(tags)));
    let registered = retry_while("registering the task definition", role_not_ready, || {
        registered.clone().send()
    })
    .await?;
    let arn = registered
        .task_definition
        .and_then(|td| td.task_definition_arn)
        .ok_or_else(|| Error::failed("registering the task definition: no ARN in the answer"))?;
    Ok(TaskDefinition { arn, registered: true, page, labels })
}

/// The container aws-app registers for `spec`, labelled with `labels`.
fn container_definition(
    spec: &TaskSpec,
    labels: HashMap<String, String>,
) -> Result<ContainerDefinition> {
    let logs = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .set_options(Some(HashMap::from([
            ("awslogs-group".to_string(), spec.log_group.clone()),
            ("awslogs-region".to_string(), spec.region.clone()),
            ("awslogs-stream-prefix".to_string(), CONTAINER.to_string()),
        ])))
        .build()
        .map_err(|e| Error::failed(format!("log configuration: {e}")))?;
    let secrets: Result<Vec<Secret>> = spec
        .secrets
        .iter()
        .map(|(name, from)| {
            let secret = Secret::builder().name(name).value_from(from).build();
            secret.map_err(|e| Error::failed(format!("secret {name}: {e}")))
        })
        .collect();
    Ok(ContainerDefinition::builder()
        .name(CONTAINER)
        .image(&spec.image)
        .set_docker_labels(Some(labels))
        .essential(true)
        .port_mappings(
            PortMapping::builder()
                .container_port(i32::from(spec.port))
                .protocol(TransportProtocol::Tcp)
                .build(),
        )
        .log_configuration(logs)
        .set_environment(Some(
            spec.environment
                .iter()
                .map(|(name, value)| KeyValuePair::builder().name(name).value(value).build())
                .collect(),
        ))
        .set_secrets((!spec.secrets.is_empty()).then_some(secrets?))
        .build())
}

/// A revision's container variables, sorted by name.
pub fn environment_of(td: &types::TaskDefinition) -> Vec<(String, String)> {
    let container = td.container_definitions().first();
    let mut vars: Vec<(String, String)> = container
        .map(|c| c.environment())
        .unwrap_or_default()
        .iter()
        .map(|kv| {
            (kv.name().unwrap_or_default().to_string(), kv.value().unwrap_or_default().to_string())
        })
        .collect();
    vars.sort();
    vars
}

/// What differs between two sets of variables (`what`: "variable", or "secret" for references
/// to secrets), by name only (a value may be sensitive even when it should not be).
pub fn environment_diff(
    what: &str,
    current: &[(String, String)],
    wanted: &[(String, String)],
) -> Vec<String> {
    let value = |vars: &[(String, String)], name: &str| {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    };
    let mut differences = Vec::new();
    for (name, v) in wanted {
        match value(current, name) {
            None => differences.push(format!("{what} {name} added")),
            Some(old) if &old != v => differences.push(format!("{what} {name} changed")),
            Some(_) => {}
        }
    }
    for (name, _) in current {
        if value(wanted, name).is_none() {
            differences.push(format!("{what} {name} removed"));
        }
    }
    differences
}

/// Whether the current revision's labels already say what this run knows of the build.
fn labels_current(
    wanted: Option<&HashMap<String, String>>,
    current: &HashMap<String, String>,
) -> bool {
    wanted.is_none_or(|wanted| wanted.iter().all(|(k, v)| current.get(k) == Some(v)))
}

/// A revision by ARN (or `family:revision`).
pub async fn describe_task_definition(ecs: &Client, arn: &str) -> Result<types::TaskDefinition> {
    ecs.describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| failed("reading the task definition", e))?
        .task_definition
        .ok_or_else(|| Error::failed(format!("task definition {arn} is empty")))
}

/// The family's ACTIVE revisions, newest first (exactly this family: the API's prefix filter
/// also matches longer family names).
pub async fn revisions(ecs: &Client, family: &str) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(types::TaskDefinitionStatus::Active)
            .sort(types::SortOrder::Desc)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| failed("listing task definition revisions", e))?;
        arns.extend(page.task_definition_arns().iter().cloned());
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    arns.retain(|arn| {
        arn.rsplit('/').next().and_then(|f| f.rsplit_once(':')).map(|(f, _)| f) == Some(family)
    });
    arns.sort_by_key(|arn| std::cmp::Reverse(revision_of(arn)));
    Ok(arns)
}

/// The revision number of a task definition ARN (0 when it has none).
pub fn revision_of(arn: &str) -> i32 {
    arn.rsplit(':').next().and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// Deregisters every ACTIVE revision of the family; how many there were.
pub async fn deregister_all(ecs: &Client, family: &str) -> Result<usize> {
    let revisions = revisions(ecs, family).await?;
    for arn in &revisions {
        ecs.deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| failed("deregistering a task definition", e))?;
    }
    Ok(revisions.len())
}

#[cfg(test)]
mod diff_tests {
    use super::*;

    fn spec() -> TaskSpec {
        TaskSpec {
            family: "ann-aws-app".into(),
            image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/ann-aws-app@sha256:aa".into(),
            cpu: 256,
            memory: 512,
            architecture: "amd64".into(),
            execution_role_arn: "arn:aws:iam::123456789012:role/ann-aws-app-execution".into(),
            log_group: "/aws-app/ann".into(),
            region: "us-east-1".into(),
            port: 8000,
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            labels: Some(HashMap::from([(PAGE_LABEL.to_string(), "feedface".to_string())])),
            environment: vec![("A".into(), "1".into()), ("B".into(), "2".into())],
            secrets: vec![(
                "TOKEN".into(),
                "arn:aws:ssm:us-east-1:123456789012:parameter/prod/token".into(),
            )],
        }
    }

    /// The revision `ensure_task_definition` registers for `spec`, as ECS describes it.
    fn registered(spec: &TaskSpec) -> types::TaskDefinition {
        let mut labels = spec.labels.clone().unwrap_or_default();
        labels.insert(COMMIT_LABEL.to_string(), spec.commit.clone());
        types::TaskDefinition::builder()
            .cpu(spec.cpu.to_string())
            .memory(spec.memory.to_string())
            .execution_role_arn(&spec.execution_role_arn)
            .runtime_platform(
                RuntimePlatform::builder()
                    .cpu_architecture(spec.cpu_architecture().expect("architecture"))
                    .build(),
            )
            .container_definitions(container_definition(spec, labels).expect("container"))
            .build()
    }

    #[test]
    fn a_revision_differs_in_what_its_spec_changed() {
        let base = spec();
        let current = registered(&base);
        assert_eq!(task_definition_diff(&current, &base).0, Vec::<String>::new());
        type Case = (&'static str, fn(&mut TaskSpec), &'static [&'static str]);
        let cases: [Case; 12] = [
            ("size", |s| s.cpu = 512, &["cpu 256 → 512"]),
            ("memory", |s| s.memory = 1024, &["memory 512 → 1024"]),
            (
                "commit and image",
                |s| {
                    s.commit = "fedcba9876543210fedcba9876543210fedcba98".into();
                    s.image.push('b');
                },
                &["commit 0123456789ab → fedcba987654", "image → this build's"],
            ),
            (
                "labels",
                |s| s.labels = Some(HashMap::from([(PAGE_LABEL.into(), "beef".into())])),
                &["build labels → this build's"],
            ),
            // A run that built nothing keeps the revision's labels.
            ("no labels known", |s| s.labels = None, &[]),
            ("arm64", |s| s.architecture = "arm64".into(), &["architecture X86_64 → ARM64"]),
            ("port", |s| s.port = 9000, &["port → 9000"]),
            ("log group", |s| s.log_group = "/other".into(), &["log group /aws-app/ann → /other"]),
            (
                "variables",
                |s| s.environment = vec![("B".into(), "3".into()), ("C".into(), "x".into())],
                &["variable B changed", "variable C added", "variable A removed"],
            ),
            (
                "no variables",
                |s| s.environment.clear(),
                &["variable A removed", "variable B removed"],
            ),
            (
                "another secret source",
                |s| s.secrets[0].1.push_str("-v2"),
                &["secret TOKEN changed"],
            ),
            ("no secrets", |s| s.secrets.clear(), &["secret TOKEN removed"]),
        ];
        for (case, change, wanted) in cases {
            let mut spec = base.clone();
            change(&mut spec);
            assert_eq!(task_definition_diff(&current, &spec).0, wanted, "{case}");
        }
        let role = TaskSpec { execution_role_arn: "arn:other".into(), ..base.clone() };
        let diff = task_definition_diff(&current, &role).0;
        assert_eq!(diff, [format!("execution role {} → arn:other", base.execution_role_arn)]);
        // Nothing known of the revision (a hand-made one): everything is named.
        let bare = types::TaskDefinition::builder().build();
        assert!(task_definition_diff(&bare, &base).0.len() >= 8);
    }
}
