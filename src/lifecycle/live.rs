//! What runs now for a prefix, read from AWS: the service, its task definition and the labels
//! aws-app put on it (commit, commit time, page fingerprint, build inputs), and the load
//! balancer's URL.

use std::collections::HashMap;

use aws_sdk_ecs::types::{Service, TaskDefinition};

use crate::aws::Aws;
use crate::aws::ecs::{COMMIT_LABEL, COMMIT_TIME_LABEL, PAGE_LABEL};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::image::lock::{BASE_ID_LABEL, BASE_IMAGE_LABEL, RECIPE_LABEL};

pub struct Live {
    pub service: Service,
    pub task_definition: TaskDefinition,
    pub url: Option<String>,
    pub commit: Option<String>,
    pub commit_time: Option<String>,
    pub page: Option<String>,
    /// Every label of the container (the build inputs among them, `ecs::*_LABEL`).
    pub labels: HashMap<String, String>,
}

impl Live {
    pub fn revision(&self) -> i32 {
        self.task_definition.revision()
    }

    /// Whether the service carries the prefix's tags (`aws::owner`).
    pub fn owned_by(&self, prefix: &str) -> bool {
        let tags = self.service.tags().iter();
        crate::aws::owner::is_ours(
            tags.map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
            prefix,
        )
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The image the revision runs (`registry/repo@sha256:…`).
    pub fn image(&self) -> Option<&str> {
        crate::aws::ecs::image_of(&self.task_definition)
    }

    /// Whether it runs `commit` built by this aws-app's recipe on `base_image` (as given; with
    /// `base_id`, also that ID): then nothing needs building for it.
    pub fn runs_build_of(&self, commit: &str, base_image: &str, base_id: Option<&str>) -> bool {
        self.commit.as_deref() == Some(commit)
            && self.label(RECIPE_LABEL) == Some(crate::image::lock::recipe())
            && self.label(BASE_IMAGE_LABEL) == Some(base_image)
            && base_id.is_none_or(|id| self.label(BASE_ID_LABEL) == Some(id))
    }
}

/// The prefix's live service, or None when there is none (never deployed, or destroyed).
pub async fn find(aws: &Aws, config: &Config) -> Result<Option<Live>> {
    let names = &config.names;
    // The load balancer's name is known: it is asked beside the service and its revision.
    let service_and_revision = async {
        let service = crate::aws::ecs::find_service(&aws.ecs, &names.cluster, &names.service);
        let Some(service) = service.await? else {
            return Ok(None);
        };
        let arn = service
            .task_definition()
            .ok_or_else(|| Error::failed("the service names no task definition"))?
            .to_string();
        let task_definition = crate::aws::ecs::describe_task_definition(&aws.ecs, &arn).await?;
        Ok(Some((service, task_definition)))
    };
    let url = async {
        let lb = crate::aws::alb::find_load_balancer(&aws.elb, &names.load_balancer).await?;
        // `--domain`: the name served over HTTPS in front of it.
        let url = match &config.domain {
            Some(name) => lb.map(|_| format!("https://{name}/")),
            None => lb.and_then(|l| l.dns_name).map(|d| format!("http://{d}/")),
        };
        Ok::<_, Error>(url)
    };
    let (found, url) = tokio::join!(service_and_revision, url);
    let Some((service, task_definition)) = found? else {
        return Ok(None);
    };
    let url = url?;
    let labels = crate::aws::ecs::labels_of(&task_definition);
    Ok(Some(Live {
        service,
        task_definition,
        url,
        commit: labels.get(COMMIT_LABEL).cloned(),
        commit_time: labels.get(COMMIT_TIME_LABEL).cloned(),
        page: labels.get(PAGE_LABEL).cloned(),
        labels,
    }))
}

/// The error for a command that needs a deployment where there is none.
pub fn not_deployed(config: &Config, region: &str) -> Error {
    Error::failed(format!(
        "nothing is deployed for prefix {} in {region}: run ./aws-app.sh to deploy",
        config.prefix
    ))
}
