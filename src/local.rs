//! Local Docker build only mode: clone, build, smoke-test and (with --run) serve on localhost;
//! and its undo, `destroy --local`. Needs Docker and git access, never AWS.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::image::verified::build_verified;
use crate::image::{BuildOptions, BuiltImage, Engine};
use crate::outcome::Outcome;

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

/// `build [--run --port N]`. SIGINT/SIGTERM stop it after removing the containers it started:
/// the smoke test's, and a local container that was not yet verified.
pub async fn build(config: &Config, run_on: Option<u16>) -> Result<Outcome> {
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
                let url = engine
                    .run_local(&built.image, name, port, prefix_label, expect, &config.environment)
                    .await?;
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
    Ok(Outcome::json(out).line(url.unwrap_or_else(|| built.image.reference.clone())))
}

/// `destroy --local`: the prefix's containers and images.
pub async fn destroy(config: &Config) -> Result<Outcome> {
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
    Ok(Outcome::json(
        serde_json::json!({"removed_containers": containers, "removed_images": images}),
    ))
}
