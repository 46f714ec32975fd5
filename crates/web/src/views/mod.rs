//! What the page shows for each route. Views wait for the model, check links against it and
//! say in words what is wrong with a link that cannot be followed.

mod analysis;
mod atlas;
mod attack;
mod crumbs;
mod examples;
mod families;
mod home;
mod imageset;
mod layer;
mod lesion;
mod multimodal;
mod neuron;
mod notice;
mod reading;
mod row;

use leptos::prelude::*;

pub use analysis::{check_lesion, check_model, check_units, default_layer};
pub use atlas::AtlasPage;
pub use attack::AttackPage;
pub use examples::DatasetExamples;
pub use families::FamiliesPage;
pub use home::{Home, OpenModel};
pub use imageset::{ImagesPage, SurveyProgress};
pub use layer::LayerPage;
pub use lesion::LesionPage;
pub use multimodal::MultimodalPage;
pub use neuron::{NeuronCard, check_neuron};
pub use notice::{BackendNote, LoadPanel, Message};
pub use reading::WrittenWords;
pub use row::{NeuronRow, check_row};

use crate::protocol::ModelInfo;
use crate::route::{AttackParams, Route};
use crate::worker_client::WorkerClient;

/// The main area of the full page for a route.
pub fn full(route: Route) -> AnyView {
    match route {
        Route::Home => with_model(false, |info| view! { <Home info/> }.into_any()),
        Route::Layer { model, layer } => checked(false, move |info| {
            check_layer(&info, &model, &layer)?;
            Ok(view! { <LayerPage info layer=layer.clone()/> }.into_any())
        }),
        Route::Neuron {
            model,
            layer,
            unit,
            params,
        } => checked(false, move |info| {
            check_neuron(&info, &model, &layer, unit)?;
            let spec = params.spec(&model, &layer, unit);
            Ok(view! { <NeuronCard info spec embed=false/> }.into_any())
        }),
        Route::Row {
            model,
            layer,
            units,
            params,
        } => checked(false, move |info| {
            check_row(&info, &model, &layer, &units)?;
            Ok(view! {
                <NeuronRow info layer=layer.clone() units=units.clone() params embed=false/>
            }
            .into_any())
        }),
        Route::Multimodal {
            model,
            layer,
            params,
        } => checked(false, move |info| {
            check_layer(&info, &model, &layer)?;
            Ok(view! { <MultimodalPage info layer=layer.clone() params/> }.into_any())
        }),
        Route::Families {
            model,
            layer,
            params,
        } => checked(false, move |info| {
            check_layer(&info, &model, &layer)?;
            Ok(view! { <FamiliesPage info layer=layer.clone() params/> }.into_any())
        }),
        Route::Lesion { model, params } => checked(false, move |info| {
            check_lesion(&info, &model, &params)?;
            Ok(view! { <LesionPage info params=params.clone()/> }.into_any())
        }),
        Route::Attack { model, params } => checked(false, move |info| {
            check_attack(&info, &model, &params)?;
            Ok(view! { <AttackPage info params=params.clone()/> }.into_any())
        }),
        Route::Images { model } => checked(false, move |info| {
            check_model(&info, &model)?;
            Ok(view! { <ImagesPage info/> }.into_any())
        }),
        Route::Atlas {
            model,
            layer,
            params,
        } => checked(false, move |info| {
            check_layer(&info, &model, &layer)?;
            Ok(view! { <AtlasPage info layer=layer.clone() params=params.clone()/> }.into_any())
        }),
        Route::Invalid { message } => view! { <Message text=message/> }.into_any(),
    }
}

/// Checks an attack link against the model; `Err` says what is wrong.
pub fn check_attack(info: &ModelInfo, model: &str, params: &AttackParams) -> Result<(), String> {
    check_model(info, model)?;
    match &params.layer {
        Some(layer) => check_layer(info, model, layer),
        None => Ok(()),
    }
}

/// The embedded page for a route: only the neuron card or the row of them (other links say they
/// are not cards).
pub fn embedded(route: Route) -> AnyView {
    match route {
        Route::Neuron {
            model,
            layer,
            unit,
            params,
        } => checked(true, move |info| {
            check_neuron(&info, &model, &layer, unit)?;
            let spec = params.spec(&model, &layer, unit);
            Ok(view! { <NeuronCard info spec embed=true/> }.into_any())
        }),
        Route::Row {
            model,
            layer,
            units,
            params,
        } => checked(true, move |info| {
            check_row(&info, &model, &layer, &units)?;
            Ok(view! {
                <NeuronRow info layer=layer.clone() units=units.clone() params embed=true/>
            }
            .into_any())
        }),
        Route::Invalid { message } => view! { <Message text=message/> }.into_any(),
        _ => view! {
            <Message text="only neuron links (#/model/layer/unit) and rows of them \
                           (#/model/layer/3,1,4-7) can be embedded"
                .to_string()/>
        }
        .into_any(),
    }
}

/// [`with_model`] for a view that first checks its link against the model: an `Err` is shown
/// as the message it carries instead of the view.
fn checked(
    embed: bool,
    ready: impl Fn(ModelInfo) -> Result<AnyView, String> + Send + Sync + 'static,
) -> AnyView {
    with_model(embed, move |info| {
        ready(info).unwrap_or_else(|text| view! { <Message text/> }.into_any())
    })
}

/// Shows `ready(model)` once the model the link wants is loaded; until then how its loading
/// goes (or why it failed).
///
/// `ready` runs once per model: later changes of the worker's status do not rebuild what it
/// made (a rebuilt neuron card would start its render again).
fn with_model(
    embed: bool,
    ready: impl Fn(ModelInfo) -> AnyView + Send + Sync + 'static,
) -> AnyView {
    let client = expect_context::<WorkerClient>();
    let loaded = Memo::new(move |_| {
        client.has_wanted_model().then(|| {
            client
                .model
                .with_untracked(|m| m.as_ref().map(|m| (m.source.clone(), m.name.clone())))
        })
    });
    (move || match loaded.get() {
        Some(_) => {
            let info = client.model.get_untracked().expect("the model is loaded");
            ready(info)
        }
        None => view! { <LoadPanel embed/> }.into_any(),
    })
    .into_any()
}

/// Checks a layer link against the model; `Err` says what is wrong.
pub fn check_layer(info: &ModelInfo, model: &str, layer: &str) -> Result<(), String> {
    check_model(info, model)?;
    if info.layer(layer).is_some() {
        return Ok(());
    }
    if layer.starts_with("text.") {
        return Err(format!(
            "`{layer}` belongs to the text tower; the page shows the image tower's layers."
        ));
    }
    let examples: Vec<String> = info
        .layers
        .iter()
        .rev()
        .take(3)
        .map(|l| format!("`{}`", l.name))
        .collect();
    Err(format!(
        "The model `{}` has no image-tower layer `{layer}` (its layers have names such as {}).",
        info.name,
        examples.join(", ")
    ))
}
