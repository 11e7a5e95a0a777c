//! Local Docker build only mode: clone, build, smoke-test and (with --run) serve on localhost;
//! and its undo, `destroy --local`. Needs Docker and git access, never AWS.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::image::{BuildOptions, BuiltImage, Engine};
use crate::say;
use crate::source::{self, Checkout};

/// An image built from the branch HEAD and proven to serve, with the page it served.
pub struct Verified {
    pub checkout: Checkout,
    pub image: BuiltImage,
    pub body: String,
}

/// Clone, build and smoke-test: the first half of every deploy. The resolved pins and their
/// known vulnerabilities are reported once the build is done (a warning, not a failure: the
/// app's pins are the app's choice).
pub async fn build_verified(
    config: &Config,
    engine: &Engine,
    options: &BuildOptions,
) -> Result<Verified> {
    let clock = Instant::now();
    say(format!("fetching {} of {}", config.source.branch, config.source.url));
    let checkout = source::fetch(&config.source).await?;
    crate::done(format!(
        "fetched {} ({}) in {}",
        checkout.short(),
        crate::rfc3339(checkout.commit_time),
        seconds(clock)
    ));

    check_app_files(&checkout)?;

    let clock = Instant::now();
    say(format!("building on {}", config.base_image));
    let prefix_label = (config.names.label, config.prefix.as_str());
    let build = || {
        engine.build(&checkout, &config.base_image, &config.names.image_repo, prefix_label, options)
    };
    let image = match build().await {
        // With the containerd image store, a removal beside this build (another prefix's
        // `destroy --local`, `docker image prune`) can take a cached step it stands on: that
        // step is built again.
        Err(e) if e.message.contains("unable to find image \"sha256:") => {
            crate::note(format!(
                "{}: a cached step went missing meanwhile; building again",
                e.message
            ));
            build().await?
        }
        other => other?,
    };
    crate::done(format!(
        "built {} ({}) in {}",
        image.reference,
        image.architecture,
        seconds(clock)
    ));
    let lock = &image.inputs.lock;
    crate::note(format!(
        "dependencies: {} pins resolved as of {} ({})",
        lock.pins.len(),
        lock.cutoff.as_deref().unwrap_or("the build"),
        lock.why
    ));
    if let Some(warning) = lock.warning() {
        crate::note(warning);
    }

    let clock = Instant::now();
    say("smoke test: running the image until GET / answers");
    let page = engine.smoke_test(&image, prefix_label, config.expect.as_deref()).await?;
    crate::done(format!("smoke test passed: GET / answered 200 in {}", seconds(clock)));
    Ok(Verified { checkout, image, body: page.body })
}

/// The app's files aws-app reads must be regular files of a sane size (see `read_app_file`),
/// and requirements.txt must be there and stand alone: the image's lock stage sees that file
/// only. Bad input (exit 2) before anything is built.
fn check_app_files(checkout: &Checkout) -> Result<()> {
    let at =
        |e: std::io::Error| Error::input(format!("{} at {}: {e}", checkout.url, checkout.short()));
    crate::image::context::read_app_file(checkout.path(), ".dockerignore").map_err(at)?;
    let read = crate::image::context::read_app_file(checkout.path(), "requirements.txt");
    let text = match read {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Err(Error::input(format!(
                "{} at {} has no requirements.txt: aws-app installs the app's dependencies \
                 from it; add one (listing at least the app's framework)",
                checkout.url,
                checkout.short()
            )));
        }
        Err(e) => return Err(at(e)),
    };
    match crate::image::lock::unsupported_requirement(&text) {
        Some(why) => Err(Error::input(format!(
            "requirements.txt of {} at {}: {why}, which aws-app's build does not see; list \
             every requirement in requirements.txt itself",
            checkout.url,
            checkout.short()
        ))),
        None => Ok(()),
    }
}

/// What an image was built from besides its commit, as `--json` shows it.
pub fn inputs_json(image: &BuiltImage) -> serde_json::Value {
    let i = &image.inputs;
    crate::image::lock::inputs_json(&crate::image::lock::labels(
        &i.base_image,
        &i.base_id,
        &i.key,
        &i.lock,
    ))
}

/// `1.2 s` since `start`, for progress lines (the benchmark reads them too).
pub fn seconds(start: Instant) -> String {
    format!("{:.1} s", start.elapsed().as_secs_f64())
}

/// `build [--run --port N]`. SIGINT/SIGTERM stop it after removing the containers it started:
/// the smoke test's, and a local container that was not yet verified.
pub async fn build(config: &Config, run_on: Option<u16>) -> Result<()> {
    let engine = Engine::connect().await?;
    let prefix_label = (config.names.label, config.prefix.as_str());
    let starting_local = AtomicBool::new(false);
    let work = async {
        let built = build_verified(config, &engine, &BuildOptions::default()).await?;
        let url = match run_on {
            Some(port) => {
                let name = &config.names.local_container;
                let expect = config.expect.as_deref();
                starting_local.store(true, Ordering::SeqCst);
                let url = engine.run_local(&built.image, name, port, prefix_label, expect).await?;
                starting_local.store(false, Ordering::SeqCst);
                crate::done(format!("{} runs as container {name}", built.image.reference));
                Some(url)
            }
            None => None,
        };
        Ok::<_, Error>((built, url))
    };
    let (built, url) = tokio::select! {
        done = work => done?,
        signal = crate::signals::stop_requested() => {
            let removed = engine.remove_role(prefix_label, "smoke").await;
            let mut note = String::new();
            if starting_local.load(Ordering::SeqCst) {
                let name = &config.names.local_container;
                if engine.give_back_local(name, prefix_label).await > 0 {
                    note = format!(" and the new local container; {name} serves as before");
                } else {
                    note = " and the new local container".to_string();
                }
            }
            return Err(Error::interrupted(format!(
                "stopped by {signal}; removed the {removed} container(s) it had started{note}"
            )));
        }
    };
    if config.json {
        let out = serde_json::json!({
            "url": url,
            "commit": built.checkout.commit,
            "image": built.image.reference,
            "image_id": built.image.id,
            "architecture": built.image.architecture,
            "inputs": inputs_json(&built.image),
            "vulnerabilities": built.image.inputs.lock.vulnerabilities_json(),
            "advisories_unchecked": built.image.inputs.lock.unchecked_json(),
            "changed": true,
        });
        crate::out!("{out}");
    } else {
        crate::out!("{}", url.unwrap_or_else(|| built.image.reference.clone()));
    }
    Ok(())
}

/// `destroy --local`: the prefix's containers and images.
pub async fn destroy(config: &Config) -> Result<()> {
    let engine = Engine::connect().await?;
    let (containers, images) = engine
        .destroy_local((config.names.label, &config.prefix), &config.names.image_repo)
        .await?;
    if containers + images == 0 {
        crate::done(format!("nothing to remove for prefix {}", config.prefix));
    } else {
        crate::done(format!(
            "removed {containers} container(s) and {images} image(s) of prefix {}",
            config.prefix
        ));
    }
    if config.json {
        crate::out!(
            "{}",
            serde_json::json!({"removed_containers": containers, "removed_images": images})
        );
    }
    Ok(())
}
