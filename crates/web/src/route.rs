//! Links: the page's routes live in `location.hash`, so any static host serves them.
//!
//! `#/` is home, `#/{model}/{layer}` a layer, `#/{model}/{layer}/{unit}?seed=0&steps=128&size=64`
//! a neuron. `?embed=true` (in `location.search`, or in the hash's query) shows only the card.
//! A model that is not the built-in one is named by the URL of its weights, `src=` in the hash's
//! query (percent-encoded), on every link, so a shared link loads the same weights.

use crate::protocol::{RenderSpec, UnitObjective};

/// Render settings a neuron link carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderParams {
    /// Seed of the initial image and the transforms.
    pub seed: u64,
    /// Optimization steps.
    pub steps: usize,
    /// Side of the image in pixels.
    pub size: usize,
    /// Images optimized together.
    pub batch: usize,
    /// Neuron (centre) or channel (mean) objective.
    pub objective: UnitObjective,
}

impl Default for RenderParams {
    fn default() -> Self {
        Self {
            seed: 0,
            steps: 128,
            size: 64,
            batch: 1,
            objective: UnitObjective::Neuron,
        }
    }
}

/// The most steps a link may ask for.
pub const MAX_STEPS: usize = 4096;
/// The side limits a link may ask for.
pub const SIZES: std::ops::RangeInclusive<usize> = 16..=512;
/// The most images a link may ask for.
pub const MAX_BATCH: usize = 16;

impl RenderParams {
    /// The render request for a unit, with progress reports about 32 times per render.
    pub fn spec(&self, model: &str, layer: &str, unit: usize) -> RenderSpec {
        RenderSpec {
            model: model.to_string(),
            layer: layer.to_string(),
            unit,
            objective: self.objective,
            seed: self.seed,
            steps: self.steps,
            size: self.size,
            batch: self.batch,
            progress_every: (self.steps / 32).max(1),
        }
    }

    /// The query string (without `?`), only the settings that differ from the defaults.
    pub fn query(&self) -> String {
        let d = Self::default();
        let mut parts = Vec::new();
        if self.seed != d.seed {
            parts.push(format!("seed={}", self.seed));
        }
        if self.steps != d.steps {
            parts.push(format!("steps={}", self.steps));
        }
        if self.size != d.size {
            parts.push(format!("size={}", self.size));
        }
        if self.batch != d.batch {
            parts.push(format!("facets={}", self.batch));
        }
        if self.objective != d.objective {
            parts.push("objective=channel".to_string());
        }
        parts.join("&")
    }
}

/// Where a link points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The model overview.
    Home,
    /// One layer of a model.
    Layer {
        /// Model name.
        model: String,
        /// Layer name.
        layer: String,
    },
    /// One unit of a layer and how to render it.
    Neuron {
        /// Model name.
        model: String,
        /// Layer name.
        layer: String,
        /// Unit index.
        unit: usize,
        /// Render settings.
        params: RenderParams,
    },
    /// A link the page cannot follow; the message says why.
    Invalid {
        /// What is wrong, for people.
        message: String,
    },
}

/// A parsed location: the route, the model's source and whether the page is embedded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Where.
    pub route: Route,
    /// Show only the neuron card (for iframes).
    pub embed: bool,
    /// The URL of the model's weights (`src=`); `None` for the built-in model.
    pub src: Option<String>,
}

impl Location {
    /// Parses `location.search` and `location.hash` (each with or without its `?` / `#`).
    pub fn parse(search: &str, hash: &str) -> Self {
        let (route, hash_embed, src) = parse_hash(hash);
        let embed = hash_embed || query_flag(search.trim_start_matches('?'), "embed");
        Self { route, embed, src }
    }
}

impl Route {
    /// The hash (with `#`) that leads here on the built-in model; `Invalid` leads home.
    pub fn to_hash(&self) -> String {
        self.href(None)
    }

    /// The hash (with `#`) that leads here on the model whose weights are at `src` (`None`:
    /// the built-in model); `Invalid` leads home.
    pub fn href(&self, src: Option<&str>) -> String {
        let src = src.map(|s| format!("src={}", encode(s)));
        let with = |path: String, params: Option<String>| {
            let q: Vec<String> = params.into_iter().chain(src.clone()).collect();
            if q.is_empty() {
                path
            } else {
                format!("{path}?{}", q.join("&"))
            }
        };
        match self {
            Route::Home | Route::Invalid { .. } => with("#/".to_string(), None),
            Route::Layer { model, layer } => {
                with(format!("#/{}/{}", encode(model), encode(layer)), None)
            }
            Route::Neuron {
                model,
                layer,
                unit,
                params,
            } => {
                let q = params.query();
                with(
                    format!("#/{}/{}/{unit}", encode(model), encode(layer)),
                    (!q.is_empty()).then_some(q),
                )
            }
        }
    }
}

/// Checks the `src=` of a link: an http(s) URL (or a path, resolved against the page).
fn check_src(src: &str) -> Result<(), String> {
    let lower = src.trim().to_ascii_lowercase();
    if src.trim().is_empty() {
        return Err("`src=` is empty: it should be the URL of a model's weights".into());
    }
    match lower.split_once(':') {
        Some((scheme, _)) if !scheme.contains('/') && !matches!(scheme, "http" | "https") => Err(
            format!("`src={src}`: only http and https URLs can be opened as models"),
        ),
        _ => Ok(()),
    }
}

fn parse_hash(hash: &str) -> (Route, bool, Option<String>) {
    let hash = hash.trim_start_matches('#');
    let (path, query) = hash.split_once('?').unwrap_or((hash, ""));
    let embed = query_flag(query, "embed");
    let src = pairs(query).find(|(k, _)| k == "src").map(|(_, v)| v);
    if let Some(Err(message)) = src.as_deref().map(check_src) {
        return (Route::Invalid { message }, embed, None);
    }
    let parts: Vec<String> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(decode)
        .collect();
    let route = match parts.as_slice() {
        [] => Route::Home,
        [model] => Route::Invalid {
            message: format!(
                "the link names model `{model}` but no layer; links look like #/{model}/{{layer}} \
                 or #/{model}/{{layer}}/{{unit}}"
            ),
        },
        [model, layer] => Route::Layer {
            model: model.clone(),
            layer: layer.clone(),
        },
        [model, layer, unit] => match unit.parse::<usize>() {
            Ok(unit) => match parse_params(query) {
                Ok(params) => Route::Neuron {
                    model: model.clone(),
                    layer: layer.clone(),
                    unit,
                    params,
                },
                Err(message) => Route::Invalid { message },
            },
            Err(_) => Route::Invalid {
                message: format!("`{unit}` is not a unit number (units are counted from 0)"),
            },
        },
        _ => Route::Invalid {
            message: format!(
                "the link `#{hash}` has too many parts; links look like \
                 #/{{model}}/{{layer}}/{{unit}}"
            ),
        },
    };
    (route, embed, src)
}

fn parse_params(query: &str) -> Result<RenderParams, String> {
    let mut p = RenderParams::default();
    for (key, value) in pairs(query) {
        let number = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("`{key}={value}`: {what} must be a whole number"))
        };
        match key.as_str() {
            "seed" => p.seed = number("the seed")?,
            "steps" => {
                let n = number("the number of steps")? as usize;
                if !(1..=MAX_STEPS).contains(&n) {
                    return Err(format!(
                        "`steps={n}`: between 1 and {MAX_STEPS} steps, please"
                    ));
                }
                p.steps = n;
            }
            "size" => {
                let n = number("the size")? as usize;
                if !SIZES.contains(&n) {
                    return Err(format!(
                        "`size={n}`: the image side must be between {} and {} pixels",
                        SIZES.start(),
                        SIZES.end()
                    ));
                }
                p.size = n;
            }
            "batch" | "facets" => {
                let n = number("the batch")? as usize;
                if !(1..=MAX_BATCH).contains(&n) {
                    return Err(format!(
                        "`{key}={n}`: between 1 and {MAX_BATCH} images, please"
                    ));
                }
                p.batch = n;
            }
            "objective" | "obj" => {
                p.objective = match value.as_str() {
                    "neuron" => UnitObjective::Neuron,
                    "channel" => UnitObjective::Channel,
                    _ => {
                        return Err(format!(
                            "`{key}={value}`: the objective is `neuron` or `channel`"
                        ));
                    }
                }
            }
            // Page-level flags and settings for later views are not render settings.
            _ => {}
        }
    }
    Ok(p)
}

fn pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|s| !s.is_empty()).map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode(k), decode(v))
    })
}

fn query_flag(query: &str, name: &str) -> bool {
    pairs(query).any(|(k, v)| k == name && matches!(v.as_str(), "" | "true" | "1" | "yes"))
}

/// Percent-decodes a link part (invalid escapes stay as they are).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes what a link part must not contain raw.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(hash: &str) -> Route {
        Location::parse("", hash).route
    }

    #[test]
    fn home() {
        assert_eq!(route(""), Route::Home);
        assert_eq!(route("#"), Route::Home);
        assert_eq!(route("#/"), Route::Home);
    }

    #[test]
    fn layer() {
        assert_eq!(
            route("#/modalscope-synth/vision.blocks.3.mlp"),
            Route::Layer {
                model: "modalscope-synth".into(),
                layer: "vision.blocks.3.mlp".into()
            }
        );
    }

    #[test]
    fn neuron_with_settings() {
        assert_eq!(
            route("#/modalscope-synth/vision.blocks.3.mlp/7?steps=32&size=64&seed=1"),
            Route::Neuron {
                model: "modalscope-synth".into(),
                layer: "vision.blocks.3.mlp".into(),
                unit: 7,
                params: RenderParams {
                    seed: 1,
                    steps: 32,
                    size: 64,
                    batch: 1,
                    objective: UnitObjective::Neuron
                }
            }
        );
    }

    #[test]
    fn neuron_defaults() {
        let Route::Neuron { params, .. } = route("#/m/l/0") else {
            panic!()
        };
        assert_eq!(params, RenderParams::default());
    }

    #[test]
    fn bad_links_say_why() {
        let msg = |h: &str| match route(h) {
            Route::Invalid { message } => message,
            other => panic!("{h} parsed as {other:?}"),
        };
        assert!(msg("#/m/l/seven").contains("not a unit number"));
        assert!(msg("#/m/l/-1").contains("not a unit number"));
        assert!(msg("#/m/l/1?steps=0").contains("steps"));
        assert!(msg("#/m/l/1?steps=abc").contains("whole number"));
        assert!(msg("#/m/l/1?size=4").contains("between"));
        assert!(msg("#/m/l/1?objective=max").contains("neuron"));
        assert!(msg("#/m").contains("no layer"));
        assert!(msg("#/a/b/1/2").contains("too many"));
    }

    #[test]
    fn embed_flag_from_search_or_hash() {
        assert!(Location::parse("?embed=true", "#/m/l/1").embed);
        assert!(Location::parse("embed=true&x=1", "#/m/l/1").embed);
        assert!(Location::parse("", "#/m/l/1?steps=8&embed=true").embed);
        assert!(!Location::parse("?embed=false", "#/m/l/1").embed);
        assert!(!Location::parse("", "#/m/l/1").embed);
    }

    #[test]
    fn links_round_trip() {
        for r in [
            Route::Home,
            Route::Layer {
                model: "modalscope-synth".into(),
                layer: "vision.blocks.3.mlp".into(),
            },
            Route::Neuron {
                model: "clip vit/b32".into(),
                layer: "vision.layer4.5".into(),
                unit: 2559,
                params: RenderParams {
                    seed: 3,
                    steps: 512,
                    size: 128,
                    batch: 4,
                    objective: UnitObjective::Channel,
                },
            },
            Route::Neuron {
                model: "m".into(),
                layer: "l".into(),
                unit: 0,
                params: RenderParams::default(),
            },
        ] {
            assert_eq!(route(&r.to_hash()), r, "{}", r.to_hash());
        }
        assert_eq!(
            Route::Neuron {
                model: "m".into(),
                layer: "l".into(),
                unit: 0,
                params: RenderParams::default()
            }
            .to_hash(),
            "#/m/l/0"
        );
    }

    #[test]
    fn links_carry_the_model_source() {
        let url = "https://example.org/models/vit b32.msb?x=1&y=2";
        let r = Route::Neuron {
            model: "clip-vit-b32".into(),
            layer: "vision.blocks.10.mlp".into(),
            unit: 1234,
            params: RenderParams {
                seed: 5,
                ..RenderParams::default()
            },
        };
        let hash = r.href(Some(url));
        assert_eq!(
            hash,
            "#/clip-vit-b32/vision.blocks.10.mlp/1234?seed=5&src=https%3A%2F%2Fexample.org%2F\
             models%2Fvit%20b32.msb%3Fx%3D1%26y%3D2"
        );
        let loc = Location::parse("", &hash);
        assert_eq!((loc.route, loc.src.as_deref()), (r, Some(url)));
        let home = Route::Home.href(Some(url));
        assert!(home.starts_with("#/?src=https%3A"), "{home}");
        assert_eq!(Location::parse("", &home).src.as_deref(), Some(url));
        assert_eq!(Location::parse("", "#/").src, None);
        assert_eq!(
            Location::parse("", "#/?src=models/m.msb").src.as_deref(),
            Some("models/m.msb")
        );
        for bad in ["javascript:alert(1)", "file:///etc/passwd", ""] {
            let loc = Location::parse("", &format!("#/?src={}", encode(bad)));
            assert!(
                matches!(&loc.route, Route::Invalid { message } if message.contains("src")),
                "{bad}: {loc:?}"
            );
        }
    }

    #[test]
    fn percent_escapes() {
        assert_eq!(decode("a%20b%2Fc"), "a b/c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
