//! Clone, build and smoke-test: the first half of every deploy and of `--local`. The image
//! comes out of here proven to serve, with the page it served.

use std::time::Instant;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::image::{BuildOptions, BuiltImage, Engine};
use crate::progress::seconds_since as seconds;
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
    let page =
        engine.smoke_test(&image, prefix_label, config.expect.as_deref(), &config.environment);
    let page = page.await?;
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
