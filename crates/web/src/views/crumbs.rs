//! The trail of links at the top of a page: the model, the layer where there is one, and the
//! page itself.

use leptos::prelude::*;

use crate::route::Route;

/// Links back to the model's home and (when given) the layer's page, then `here` as text.
#[component]
pub fn Crumbs(
    /// The model's name.
    model: String,
    /// The weights URL that links carry (none for the built-in model).
    src: Option<String>,
    /// The layer, on pages below one.
    #[prop(optional)]
    layer: Option<String>,
    /// Where the page is.
    #[prop(into)]
    here: String,
) -> impl IntoView {
    let home = Route::Home.href(src.as_deref());
    let layer = layer.map(|layer| {
        let href = Route::Layer {
            model: model.clone(),
            layer: layer.clone(),
        }
        .href(src.as_deref());
        view! { <a href=href>{layer}</a> " / " }
    });
    view! {
        <nav class="crumbs">
            <a href=home>{model}</a>
            " / "
            {layer}
            <span>{here}</span>
        </nav>
    }
}
