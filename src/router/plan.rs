//! Turns a request's `model` into an ordered plan of candidate deployments: a route name
//! (its targets in order), a configured model, or `provider/vendor-model`.

use std::sync::Arc;

use crate::api::ApiError;
use crate::config::{ModelSettings, Snapshot, Timing};

#[derive(Debug)]
pub struct Plan {
    /// The route (or model) name the caller asked for.
    pub route: String,
    pub timing: Timing,
    pub candidates: Vec<Arc<ModelSettings>>,
}

pub fn plan(snap: &Snapshot, name: &str) -> Result<Plan, ApiError> {
    if let Some(route) = snap.routes.get(name) {
        return Ok(Plan {
            route: route.name.clone(),
            timing: route.timing,
            candidates: route.targets.clone(),
        });
    }
    if let Some(model) = snap.models.get(name) {
        return Ok(Plan {
            route: name.to_string(),
            timing: Timing::default(),
            candidates: vec![model.clone()],
        });
    }
    if let Some((provider, vendor_model)) = name.split_once('/')
        && let Some(p) = snap.providers.get(provider)
        && !vendor_model.is_empty()
    {
        let adhoc = ModelSettings {
            name: name.to_string(),
            provider: p.clone(),
            vendor_model: vendor_model.to_string(),
            context_window: None,
            price: None,
            capabilities: Vec::new(),
            region: p.region.clone(),
        };
        return Ok(Plan {
            route: name.to_string(),
            timing: Timing::default(),
            candidates: vec![Arc::new(adhoc)],
        });
    }
    Err(unknown_model(snap, name))
}

fn unknown_model(snap: &Snapshot, name: &str) -> ApiError {
    let routes: Vec<&str> = snap.routes.keys().map(String::as_str).collect();
    let models: Vec<&str> = snap.models.keys().map(String::as_str).collect();
    let providers: Vec<String> = snap
        .providers
        .keys()
        .map(|p| format!("{p}/<model>"))
        .collect();
    ApiError::new(
        404,
        "invalid_request_error",
        Some("model_not_found"),
        format!(
            "unknown model `{name}`; known routes: [{}], models: [{}], or a provider's model as [{}]",
            routes.join(", "),
            models.join(", "),
            providers.join(", ")
        ),
    )
    .with_param("model")
}
