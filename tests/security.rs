//! Safe in a shared account (issue 11): credentials of a private app repository never leak.

use crate::support::*;

/// Everything a run leaves that could hold a secret: the files under `dir`, recursively.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                todo.push(entry.path());
            }
        } else if meta.is_file()
            && std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// What AWS keeps of the prefix's deployment that a token could have slipped into: the task
/// definition (with its tags), and the tags of the service, cluster, repository, load balancer.
fn aws_records(moto: &Moto, p: &str) -> String {
    let td = moto.service_task_definition(p);
    moto.run(async {
        let described = moto
            .ecs
            .describe_task_definition()
            .task_definition(&td)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .expect("task definition");
        let service = moto
            .ecs
            .describe_services()
            .cluster(format!("{p}-aws-app"))
            .services(format!("{p}-aws-app"))
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .expect("service");
        let repo = moto
            .ecr
            .describe_repositories()
            .repository_names(format!("{p}-aws-app"))
            .send()
            .await
            .expect("repository");
        let arn = repo.repositories()[0].repository_arn().expect("arn").to_string();
        let repo_tags =
            moto.ecr.list_tags_for_resource().resource_arn(arn).send().await.expect("tags");
        let lbs = moto
            .elb
            .describe_load_balancers()
            .names(format!("{p}-aws-app"))
            .send()
            .await
            .expect("load balancer");
        let lb = lbs.load_balancers()[0].load_balancer_arn().expect("arn").to_string();
        let lb_tags =
            moto.elb.describe_tags().resource_arns(lb).send().await.expect("load balancer tags");
        format!("{described:?}\n{service:?}\n{repo_tags:?}\n{lb_tags:?}")
    })
}

#[test]
fn a_private_repository_deploys_and_its_token_appears_nowhere() {
    let env = aws_env();
    let moto = env.clients();
    let mut fixture = Fixture::new(APP_PY);
    let token = format!("tok{}S3cretValue", std::process::id());
    let login = format!("ann:{token}");
    let server = GitHttp::serve_private(&fixture, Some(&login));
    let clean = server.url.clone();
    let with_token = clean.replacen("http://", &format!("http://{login}@"), 1);
    let prefix = Prefix::new("private");
    let p = prefix.as_str();
    let tmp = tempfile::tempdir().expect("temp dir");
    let tmpdir = tmp.path().to_str().expect("utf-8").to_string();
    // No credential helper of this machine's user answers for the test server.
    let home = tempfile::tempdir().expect("home");
    let home_dir = home.path().to_str().expect("utf-8").to_string();
    let isolated = [("TMPDIR", tmpdir.as_str()), ("HOME", home_dir.as_str())];

    // Without credentials: exit 2, one line naming the ways to give them.
    let refused = env.aws_app_with(&["deploy", "--repo", &clean, "--prefix", p], &isolated);
    assert_eq!(refused.code, 2, "{refused:?}");
    let last = refused.last_stderr_line();
    assert!(last.contains(&format!("the repository {clean} asks for credentials")), "{last}");
    assert!(last.contains("AWS_APP_GIT_TOKEN") && last.contains("credential helper"), "{last}");

    // The token inside --repo: the deploy works, and nothing it shows or stores has it.
    let run =
        env.aws_app_with(&["deploy", "--json", "--repo", &with_token, "--prefix", p], &isolated);
    assert_eq!(run.code, 0, "{run:?}");
    let url = run.json()["url"].as_str().expect("url").to_string();
    assert!(env.get(&url).1.contains("Hello World!"));
    let image = run.json()["image"].as_str().expect("image").to_string();
    let check = |what: &str, text: &str| {
        assert!(!text.contains(&token), "the token is in {what}: {text}");
        assert!(!text.contains("ann:"), "the user-info is in {what}: {text}");
    };
    check("stdout", &run.stdout);
    check("stderr", &run.stderr);
    let inspect = docker(&["image", "inspect", &image]);
    check("the image's config", &inspect);
    assert!(
        inspect.contains(&format!("\"org.opencontainers.image.source\": \"{clean}\"")),
        "{inspect}"
    );
    check("the image's history", &docker(&["history", "--no-trunc", &image]));
    check("AWS's records", &aws_records(&moto, p));
    assert_eq!(files_containing(tmp.path(), &token), Vec::<String>::new());

    // The token in AWS_APP_GIT_TOKEN (the user in AWS_APP_GIT_USER): a new commit deploys.
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello private!"));
    fixture.commit("Second commit");
    let vars = [
        isolated[0],
        isolated[1],
        ("AWS_APP_GIT_TOKEN", token.as_str()),
        ("AWS_APP_GIT_USER", "ann"),
    ];
    let again = env.aws_app_with(&["deploy", "--repo", &clean, "--prefix", p], &vars);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(env.get(&url).1.contains("Hello private!"));
    check("stdout", &again.stdout);
    check("stderr", &again.stderr);
    check("AWS's records", &aws_records(&moto, p));
    assert_eq!(files_containing(tmp.path(), &token), Vec::<String>::new());

    // A wrong token is refused as missing credentials are, without echoing it.
    let wrong = [isolated[0], isolated[1], ("AWS_APP_GIT_TOKEN", "not-the-token")];
    let bad = aws_app(&["build", "--repo", &clean, "--prefix", p], &wrong);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.last_stderr_line().contains("asks for credentials"), "{bad:?}");
    assert!(!bad.stderr.contains("not-the-token"), "{bad:?}");

    // git's credential helper (here a shell one in the user's ~/.gitconfig).
    std::fs::write(
        home.path().join(".gitconfig"),
        format!(
            "[credential]\n\thelper = \"!f() {{ echo username=ann; echo password={token}; }}; f\"\n"
        ),
    )
    .expect("gitconfig");
    let helped = aws_app(
        &["build", "--repo", &clean, "--prefix", p],
        &[isolated[0], isolated[1], build_env()[0]],
    );
    assert_eq!(helped.code, 0, "{helped:?}");
    check("stderr", &helped.stderr);

    let destroyed = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
}
