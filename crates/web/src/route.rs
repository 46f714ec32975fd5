//! Links: the page's routes live in `location.hash`, so any static host serves them.
//!
//! `#/` is home, `#/{model}/{layer}` a layer, `#/{model}/{layer}/{unit}?seed=0&steps=128&size=64`
//! a neuron, `#/{model}/{layer}/{u1},{u2},..?seed=..` a row of neurons (ranges such as `4-7`,
//! at most [`MAX_ROW`] units, all rendered with the same settings). `?embed=true` (in
//! `location.search`, or in the hash's query) shows only the card (or the row).
//! A model that is not the built-in one is named by the URL of its weights, `src=` in the hash's
//! query (percent-encoded), on every link, so a shared link loads the same weights.
//!
//! The analyses of the concept study have links that reproduce them:
//! `#/{model}/{layer}/multimodal?n=10&top=20` (the most multimodal units),
//! `#/{model}/{layer}/families?k=8&seed=0` (neuron families),
//! `#/{model}/lesion?layer=..&units=1,2,3&mode=zero|mean` (a lesion experiment) and
//! `#/{model}/attack?concept=..&word=..&x=..&y=..&size=..&color=..` (a typographic attack).
//! `n` is the number of images per concept and modality.
//!
//! Image sets, dataset examples and atlases: `#/{model}/images` (load a set, find examples,
//! export and import) and `#/{model}/{layer}/atlas?level=..&x=..&y=..&zoom=..&samples=..&seed=..`.

use modalscope_analysis::concepts::{concept_index, parse_units};
use modalscope_synth::CONCEPTS;

use crate::protocol::{Ablation, RenderSpec, UnitObjective};

mod survey;
pub use survey::*;

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
/// The most units a row of neuron cards may show.
pub const MAX_ROW: usize = 8;

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

/// Images per concept and modality an analysis uses unless the link says (the command line's
/// default).
pub const DEFAULT_PER_CONCEPT: usize = 10;
/// The most images per concept and modality a link may ask for.
pub const MAX_PER_CONCEPT: usize = 50;
/// The most units a multimodal ranking lists.
pub const MAX_TOP: usize = 200;
/// The most families a link may ask for.
pub const MAX_FAMILIES: usize = 64;
/// The most units a lesion may silence.
pub const MAX_LESIONED: usize = 100_000;
/// Attack drawings per concept (the evaluation set's images `0..`).
pub const ATTACK_DRAWINGS: u64 = 500;
/// The sizes (cap height in percent of the image) an attack's word may have.
pub const WORD_SIZES: std::ops::RangeInclusive<u32> = 5..=60;

/// Settings of the multimodal ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultimodalParams {
    /// Probe images per concept and modality.
    pub per_concept: usize,
    /// Units listed.
    pub top: usize,
}

impl Default for MultimodalParams {
    fn default() -> Self {
        Self {
            per_concept: DEFAULT_PER_CONCEPT,
            top: 20,
        }
    }
}

/// Settings of the neuron families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamiliesParams {
    /// Number of families.
    pub k: usize,
    /// Seed of the clustering.
    pub seed: u64,
    /// Probe images per concept and modality.
    pub per_concept: usize,
}

impl Default for FamiliesParams {
    fn default() -> Self {
        Self {
            k: 8,
            seed: 0,
            per_concept: DEFAULT_PER_CONCEPT,
        }
    }
}

/// A lesion experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LesionParams {
    /// The layer whose units are silenced.
    pub layer: String,
    /// The units.
    pub units: Vec<usize>,
    /// Zero or mean ablation.
    pub ablation: Ablation,
    /// Evaluation images per concept and modality.
    pub per_concept: usize,
    /// The concept the units were chosen for, highlighted in the results.
    pub concept: Option<usize>,
    /// Instead of `units` (then empty): silence this many of the units `concept` needs, chosen
    /// by what silencing each alone costs it (`modalscope lesion --choose needed`).
    pub needed: Option<usize>,
}

/// A typographic attack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackParams {
    /// The concept drawn.
    pub concept: usize,
    /// Which drawing of it (image `seed` of its evaluation set).
    pub seed: u64,
    /// The word written.
    pub word: String,
    /// Horizontal centre of the word, percent of the width.
    pub x: u32,
    /// Vertical centre of the word, percent of the height.
    pub y: u32,
    /// Cap height, percent of the image height.
    pub size: u32,
    /// Colour of the word.
    pub colour: [u8; 3],
    /// The colour of a paper label under the word, as the study's handwritten notes stuck on
    /// objects (`None`: ink straight on the image).
    pub label: Option<[u8; 3]>,
    /// The layer whose most changed units are listed (default: the image tower's last MLP).
    pub layer: Option<String>,
}

impl Default for AttackParams {
    fn default() -> Self {
        Self {
            concept: concept_index("apple").expect("a concept"),
            seed: 0,
            word: "house".into(),
            x: 50,
            y: 50,
            size: 22,
            // White: legible on the default drawing's dark background (black all but vanished).
            colour: [255, 255, 255],
            label: None,
            layer: None,
        }
    }
}

/// A colour as links write it: six hex digits, no `#`.
pub fn colour_hex(c: [u8; 3]) -> String {
    format!("{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Reads `rrggbb`, `#rrggbb` or `rgb`.
pub fn parse_colour(s: &str) -> Option<[u8; 3]> {
    let h = s.trim().trim_start_matches('#');
    let digit = |i: usize| u8::from_str_radix(h.get(i..i + 1)?, 16).ok();
    match h.len() {
        6 if h.is_ascii() => {
            let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
            Some([byte(0)?, byte(2)?, byte(4)?])
        }
        3 => Some([digit(0)? * 17, digit(1)? * 17, digit(2)? * 17]),
        _ => None,
    }
}

impl LesionParams {
    /// The query string (without `?`).
    pub fn query(&self) -> String {
        let units: Vec<String> = self.units.iter().map(usize::to_string).collect();
        let chosen = match self.needed {
            Some(k) => format!("needed={k}"),
            None => format!("units={}", units.join(",")),
        };
        let mut q = format!(
            "layer={}&{chosen}&mode={}",
            encode(&self.layer),
            self.ablation.name()
        );
        if self.per_concept != DEFAULT_PER_CONCEPT {
            q.push_str(&format!("&n={}", self.per_concept));
        }
        if let Some(c) = self.concept {
            q.push_str(&format!("&concept={}", CONCEPTS[c]));
        }
        q
    }
}

impl AttackParams {
    /// The query string (without `?`): every setting, so the link keeps its meaning.
    pub fn query(&self) -> String {
        let mut q = format!(
            "concept={}&word={}&x={}&y={}&size={}&color={}",
            CONCEPTS[self.concept],
            encode(&self.word),
            self.x,
            self.y,
            self.size,
            colour_hex(self.colour)
        );
        if let Some(paper) = self.label {
            q.push_str(&format!("&label={}", colour_hex(paper)));
        }
        if self.seed != 0 {
            q.push_str(&format!("&seed={}", self.seed));
        }
        if let Some(l) = &self.layer {
            q.push_str(&format!("&layer={}", encode(l)));
        }
        q
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
    /// A row of units of a layer, each rendered with the same settings.
    Row {
        /// Model name.
        model: String,
        /// Layer name.
        layer: String,
        /// The units, in the order shown (no repeats, at most [`MAX_ROW`]).
        units: Vec<usize>,
        /// Render settings.
        params: RenderParams,
    },
    /// The most multimodal units of a layer.
    Multimodal {
        /// Model name.
        model: String,
        /// Layer name.
        layer: String,
        /// Settings.
        params: MultimodalParams,
    },
    /// Neuron families of a layer.
    Families {
        /// Model name.
        model: String,
        /// Layer name.
        layer: String,
        /// Settings.
        params: FamiliesParams,
    },
    /// A lesion experiment.
    Lesion {
        /// Model name.
        model: String,
        /// What is silenced.
        params: LesionParams,
    },
    /// The typographic attack playground.
    Attack {
        /// Model name.
        model: String,
        /// The attack.
        params: AttackParams,
    },
    /// The image set, dataset examples, export and import.
    Images {
        /// Model name.
        model: String,
    },
    /// The activation atlas of a layer.
    Atlas {
        /// Model name.
        model: String,
        /// Layer name.
        layer: String,
        /// The view and how the atlas is built.
        params: AtlasParams,
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
            Route::Row {
                model,
                layer,
                units,
                params,
            } => {
                let q = params.query();
                with(
                    format!("#/{}/{}/{}", encode(model), encode(layer), row_units(units)),
                    (!q.is_empty()).then_some(q),
                )
            }
            Route::Multimodal {
                model,
                layer,
                params,
            } => {
                let d = MultimodalParams::default();
                let mut q = Vec::new();
                if params.per_concept != d.per_concept {
                    q.push(format!("n={}", params.per_concept));
                }
                if params.top != d.top {
                    q.push(format!("top={}", params.top));
                }
                with(
                    format!("#/{}/{}/multimodal", encode(model), encode(layer)),
                    (!q.is_empty()).then(|| q.join("&")),
                )
            }
            Route::Families {
                model,
                layer,
                params,
            } => {
                let mut q = format!("k={}&seed={}", params.k, params.seed);
                if params.per_concept != DEFAULT_PER_CONCEPT {
                    q.push_str(&format!("&n={}", params.per_concept));
                }
                with(
                    format!("#/{}/{}/families", encode(model), encode(layer)),
                    Some(q),
                )
            }
            Route::Lesion { model, params } => {
                with(format!("#/{}/lesion", encode(model)), Some(params.query()))
            }
            Route::Images { model } => with(format!("#/{}/images", encode(model)), None),
            Route::Atlas {
                model,
                layer,
                params,
            } => with(
                format!("#/{}/{}/atlas", encode(model), encode(layer)),
                Some(params.query()),
            ),
            Route::Attack { model, params } => {
                with(format!("#/{}/attack", encode(model)), Some(params.query()))
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
        [model, page] if page == "images" => Route::Images {
            model: model.clone(),
        },
        [model, page] if page == "lesion" => match parse_lesion(query) {
            Ok(params) => Route::Lesion {
                model: model.clone(),
                params,
            },
            Err(message) => Route::Invalid { message },
        },
        [model, page] if page == "attack" => match parse_attack(query) {
            Ok(params) => Route::Attack {
                model: model.clone(),
                params,
            },
            Err(message) => Route::Invalid { message },
        },
        [model, layer] => Route::Layer {
            model: model.clone(),
            layer: layer.clone(),
        },
        [model, layer, page] if page == "atlas" => match parse_atlas(query) {
            Ok(params) => Route::Atlas {
                model: model.clone(),
                layer: layer.clone(),
                params,
            },
            Err(message) => Route::Invalid { message },
        },
        [model, layer, page] if page == "multimodal" => match parse_multimodal(query) {
            Ok(params) => Route::Multimodal {
                model: model.clone(),
                layer: layer.clone(),
                params,
            },
            Err(message) => Route::Invalid { message },
        },
        [model, layer, page] if page == "families" => match parse_families(query) {
            Ok(params) => Route::Families {
                model: model.clone(),
                layer: layer.clone(),
                params,
            },
            Err(message) => Route::Invalid { message },
        },
        [model, layer, units] if units.contains([',', '-']) => {
            match parse_row(units).and_then(|units| Ok((units, parse_params(query)?))) {
                Ok((units, params)) => Route::Row {
                    model: model.clone(),
                    layer: layer.clone(),
                    units,
                    params,
                },
                Err(message) => Route::Invalid { message },
            }
        }
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
                message: format!(
                    "`{unit}` is not a unit number (units are counted from 0), a list of units \
                     (a row, e.g. 3,1,4-7) nor a view of the layer (`multimodal`, `families`, \
                     `atlas`)"
                ),
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

/// The units of a row link (`3,1,4-7`), in the order written; `Err` says what is wrong.
fn parse_row(list: &str) -> Result<Vec<usize>, String> {
    let example = "e.g. 3,1,4-7";
    let parts: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(format!(
            "the unit list `{list}` names no units; a row of neurons lists them, {example}"
        ));
    }
    let mut units = Vec::new();
    for part in parts {
        let bad = || {
            format!(
                "`{part}` in `{list}` is not a unit number (units are counted from 0) nor a \
                 range of them; a row of neurons lists them, {example}"
            )
        };
        let range = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (
                    a.trim().parse::<usize>().map_err(|_| bad())?,
                    b.trim().parse::<usize>().map_err(|_| bad())?,
                );
                if a > b {
                    return Err(format!(
                        "`{part}` in `{list}` is not a range: it goes from the smaller unit to \
                         the larger, e.g. {b}-{a}"
                    ));
                }
                a..=b
            }
            None => {
                let u = part.parse::<usize>().map_err(|_| bad())?;
                u..=u
            }
        };
        // Counted before the range is spelled out, so `0-99999999` is refused at once.
        if units.len() + range.end().saturating_sub(*range.start()).saturating_add(1) > MAX_ROW {
            return Err(format!(
                "the unit list `{list}` names more than {MAX_ROW} units; a row shows at most \
                 {MAX_ROW}"
            ));
        }
        for u in range {
            if units.contains(&u) {
                return Err(format!(
                    "the unit list `{list}` names unit {u} twice; a row shows each unit once"
                ));
            }
            units.push(u);
        }
    }
    Ok(units)
}

/// A row's units as its link writes them: runs of three or more as ranges, and a row of one
/// unit with a trailing comma (without it the link would be the unit's own page).
fn row_units(units: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < units.len() {
        let mut j = i;
        while j + 1 < units.len() && units[j + 1] == units[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{}-{}", units[i], units[j]));
            i = j + 1;
        } else {
            parts.push(units[i].to_string());
            i += 1;
        }
    }
    let mut s = parts.join(",");
    if units.len() == 1 {
        s.push(',');
    }
    s
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

/// A whole number from a link, within `range`.
fn number_in(
    key: &str,
    value: &str,
    what: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, String> {
    let n = value
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("`{key}={value}`: {what} must be a whole number"))?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "`{key}={value}`: {what} must be between {} and {}",
            range.start(),
            range.end()
        ))
    }
}

/// `n=`: images per concept and modality.
fn per_concept(key: &str, value: &str) -> Result<usize, String> {
    Ok(number_in(
        key,
        value,
        "the number of images per concept",
        1..=MAX_PER_CONCEPT as u64,
    )? as usize)
}

fn parse_multimodal(query: &str) -> Result<MultimodalParams, String> {
    let mut p = MultimodalParams::default();
    for (key, value) in pairs(query) {
        match key.as_str() {
            "n" | "per_concept" => p.per_concept = per_concept(&key, &value)?,
            "top" => {
                p.top = number_in(&key, &value, "the number of units", 1..=MAX_TOP as u64)? as usize
            }
            _ => {}
        }
    }
    Ok(p)
}

fn parse_families(query: &str) -> Result<FamiliesParams, String> {
    let mut p = FamiliesParams::default();
    for (key, value) in pairs(query) {
        match key.as_str() {
            "k" => {
                p.k = number_in(
                    &key,
                    &value,
                    "the number of families",
                    1..=MAX_FAMILIES as u64,
                )? as usize
            }
            "seed" => p.seed = number_in(&key, &value, "the seed", 0..=u64::MAX)?,
            "n" | "per_concept" => p.per_concept = per_concept(&key, &value)?,
            _ => {}
        }
    }
    Ok(p)
}

/// The number of units a list such as `1,2,4-7` names, refusing lists too long to hold.
fn unit_count(list: &str) -> Option<u64> {
    let mut n: u64 = 0;
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let count = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?);
                b.checked_sub(a)?.checked_add(1)?
            }
            None => 1,
        };
        n = n.checked_add(count)?;
    }
    Some(n)
}

fn parse_lesion(query: &str) -> Result<LesionParams, String> {
    let mut layer = None;
    let mut units = None;
    let mut ablation = Ablation::Zero;
    let mut per = DEFAULT_PER_CONCEPT;
    let mut concept = None;
    let mut needed = None;
    for (key, value) in pairs(query) {
        match key.as_str() {
            "layer" => layer = Some(value),
            "units" | "unit" => {
                if unit_count(&value).is_some_and(|n| n > MAX_LESIONED as u64) {
                    return Err(format!(
                        "`units={value}`: at most {MAX_LESIONED} units can be silenced"
                    ));
                }
                units = Some(parse_units(&value).map_err(|e| format!("`units=`: {e}"))?);
            }
            "mode" | "ablation" => {
                ablation = match value.as_str() {
                    "zero" => Ablation::Zero,
                    "mean" => Ablation::Mean,
                    _ => {
                        return Err(format!("`{key}={value}`: the ablation is `zero` or `mean`"));
                    }
                }
            }
            "n" | "per_concept" => per = per_concept(&key, &value)?,
            "concept" => concept = Some(concept_index(&value).map_err(|e| e.to_string())?),
            "needed" => {
                needed = Some(
                    value
                        .parse::<usize>()
                        .ok()
                        .filter(|&k| (1..=MAX_LESIONED).contains(&k))
                        .ok_or_else(|| {
                            format!(
                                "`needed={value}`: how many units the concept needs, 1 to \
                                 {MAX_LESIONED}"
                            )
                        })?,
                )
            }
            _ => {}
        }
    }
    let example = "#/{model}/lesion?layer=vision.blocks.3.mlp&units=1,2,3&mode=zero";
    if let Some(k) = needed {
        if units.is_some() {
            return Err(format!(
                "a lesion link names the units to silence (`units=`) or how many units a concept \
                 needs (`needed={k}`), not both"
            ));
        }
        if concept.is_none() {
            return Err(format!(
                "`needed={k}` silences the units a concept needs: name the concept, e.g. \
                 #/{{model}}/lesion?layer=vision.post_ln&concept=eye&needed=10&mode=mean"
            ));
        }
    }
    let layer = layer.filter(|l| !l.trim().is_empty()).ok_or_else(|| {
        format!("a lesion link names the layer whose units are silenced (`layer=`), e.g. {example}")
    })?;
    let units = match needed {
        Some(_) => Vec::new(),
        None => units.ok_or_else(|| {
            format!(
                "a lesion link names the units to silence (`units=`) or how many units a \
                 concept needs (`needed=`), e.g. {example}"
            )
        })?,
    };
    Ok(LesionParams {
        layer,
        units,
        ablation,
        per_concept: per,
        concept,
        needed,
    })
}

fn parse_attack(query: &str) -> Result<AttackParams, String> {
    let mut p = AttackParams::default();
    for (key, value) in pairs(query) {
        match key.as_str() {
            "concept" => p.concept = concept_index(&value).map_err(|e| e.to_string())?,
            "word" => {
                if value.chars().count() > 40 {
                    return Err(format!("`word={value}`: at most 40 letters, please"));
                }
                p.word = value;
            }
            "x" => p.x = number_in(&key, &value, "the position (percent)", 0..=100)? as u32,
            "y" => p.y = number_in(&key, &value, "the position (percent)", 0..=100)? as u32,
            "size" => {
                p.size = number_in(
                    &key,
                    &value,
                    "the letter size (percent of the image)",
                    *WORD_SIZES.start() as u64..=*WORD_SIZES.end() as u64,
                )? as u32
            }
            "color" | "colour" => {
                p.colour = parse_colour(&value).ok_or_else(|| {
                    format!("`{key}={value}`: a colour is six hex digits, e.g. cc0000")
                })?
            }
            "label" => {
                p.label = Some(parse_colour(&value).ok_or_else(|| {
                    format!(
                        "`{key}={value}`: a label is the colour of its paper, six hex digits, \
                         e.g. f4f0e4"
                    )
                })?)
            }
            "seed" => p.seed = number_in(&key, &value, "the drawing", 0..=ATTACK_DRAWINGS - 1)?,
            "layer" => p.layer = Some(value).filter(|l| !l.is_empty()),
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
    fn rows_of_neurons() {
        assert_eq!(
            route("#/modalscope-synth/vision.blocks.3.mlp/3,1,4-7?steps=16&seed=1"),
            Route::Row {
                model: "modalscope-synth".into(),
                layer: "vision.blocks.3.mlp".into(),
                units: vec![3, 1, 4, 5, 6, 7],
                params: RenderParams {
                    seed: 1,
                    steps: 16,
                    ..RenderParams::default()
                }
            }
        );
        let units = |h: &str| match route(h) {
            Route::Row { units, params, .. } => {
                assert_eq!(params, RenderParams::default());
                units
            }
            other => panic!("{h} parsed as {other:?}"),
        };
        assert_eq!(units("#/m/l/ 2 , 9 ,"), vec![2, 9]);
        assert_eq!(units("#/m/l/4-11"), (4..=11).collect::<Vec<_>>());
        assert_eq!(units("#/m/l/5,"), vec![5]);
        assert_eq!(units("#/m/l/5-5"), vec![5]);
        // Without a comma or a dash it is one neuron's page.
        assert!(matches!(route("#/m/l/5"), Route::Neuron { unit: 5, .. }));
    }

    #[test]
    fn bad_rows_say_why() {
        let msg = |h: &str| match route(h) {
            Route::Invalid { message } => message,
            other => panic!("{h} parsed as {other:?}"),
        };
        let m = msg("#/m/l/1,two,3");
        assert!(
            m.contains("`two` in `1,two,3` is not a unit number") && m.contains("4-7"),
            "{m}"
        );
        assert!(msg("#/m/l/1,-2").contains("`-2` in `1,-2` is not a unit number"));
        assert!(msg("#/m/l/1-x").contains("not a unit number"));
        assert!(msg("#/m/l/7-4").contains("e.g. 4-7"));
        let m = msg("#/m/l/0-8");
        assert!(
            m.contains("more than 8 units") && m.contains("at most 8"),
            "{m}"
        );
        assert!(msg("#/m/l/1,2,3,4,5,6,7,8,9").contains("more than 8 units"));
        assert!(msg("#/m/l/0-18446744073709551615").contains("more than 8 units"));
        assert!(msg("#/m/l/3,1,2-4").contains("names unit 3 twice"));
        assert!(msg("#/m/l/1,1").contains("names unit 1 twice"));
        assert!(msg("#/m/l/,").contains("names no units"));
        assert!(msg("#/m/l/%2C%20%2C").contains("names no units"));
        assert!(msg("#/m/l/1,2?steps=0").contains("steps"));
        assert!(msg("#/m/l/1,2?size=9999").contains("between"));
    }

    #[test]
    fn row_links_round_trip() {
        let row = |units: Vec<usize>, params: RenderParams| Route::Row {
            model: "modalscope-synth".into(),
            layer: "vision.blocks.3.mlp".into(),
            units,
            params,
        };
        let seeded = RenderParams {
            seed: 4,
            steps: 16,
            size: 32,
            batch: 2,
            objective: UnitObjective::Channel,
        };
        for r in [
            row(vec![3, 1, 7], RenderParams::default()),
            row(vec![4, 5, 6, 7, 0, 1, 9, 8], seeded),
            row(vec![5], seeded),
            row(vec![2, 3], RenderParams::default()),
            Route::Row {
                model: "clip vit/b32".into(),
                layer: "vision.layer4.5".into(),
                units: vec![2559, 0],
                params: RenderParams::default(),
            },
        ] {
            assert_eq!(route(&r.to_hash()), r, "{}", r.to_hash());
            let url = "https://example.org/m.msb";
            let loc = Location::parse("", &r.href(Some(url)));
            assert_eq!((loc.route, loc.src.as_deref()), (r, Some(url)));
        }
        assert_eq!(
            row(vec![3, 1, 7], RenderParams::default()).to_hash(),
            "#/modalscope-synth/vision.blocks.3.mlp/3,1,7"
        );
        assert_eq!(
            row(vec![4, 5, 6, 7, 0, 1, 9, 8], seeded).to_hash(),
            "#/modalscope-synth/vision.blocks.3.mlp/4-7,0,1,9,8?seed=4&steps=16&size=32&\
             facets=2&objective=channel"
        );
        assert_eq!(
            row(vec![5], RenderParams::default()).to_hash(),
            "#/modalscope-synth/vision.blocks.3.mlp/5,"
        );
        let embedded = Location::parse("?embed=true", "#/m/l/1,2?steps=16");
        assert!(embedded.embed && matches!(embedded.route, Route::Row { .. }));
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
    fn analysis_links() {
        assert_eq!(
            route("#/m/vision.blocks.3.mlp/multimodal"),
            Route::Multimodal {
                model: "m".into(),
                layer: "vision.blocks.3.mlp".into(),
                params: MultimodalParams::default()
            }
        );
        assert_eq!(
            route("#/m/vision.blocks.3.mlp/multimodal?n=4&top=7"),
            Route::Multimodal {
                model: "m".into(),
                layer: "vision.blocks.3.mlp".into(),
                params: MultimodalParams {
                    per_concept: 4,
                    top: 7
                }
            }
        );
        assert_eq!(
            route("#/m/vision.blocks.3.mlp/families?k=5&seed=2"),
            Route::Families {
                model: "m".into(),
                layer: "vision.blocks.3.mlp".into(),
                params: FamiliesParams {
                    k: 5,
                    seed: 2,
                    per_concept: DEFAULT_PER_CONCEPT
                }
            }
        );
        assert_eq!(
            route("#/m/lesion?layer=vision.blocks.1.mlp&units=3,1,4-6&mode=mean&n=2&concept=Star"),
            Route::Lesion {
                model: "m".into(),
                params: LesionParams {
                    layer: "vision.blocks.1.mlp".into(),
                    units: vec![1, 3, 4, 5, 6],
                    ablation: Ablation::Mean,
                    per_concept: 2,
                    concept: Some(3),
                    needed: None,
                }
            }
        );
        assert_eq!(
            route("#/m/lesion?layer=vision.post_ln&concept=eye&needed=10&mode=mean"),
            Route::Lesion {
                model: "m".into(),
                params: LesionParams {
                    layer: "vision.post_ln".into(),
                    units: vec![],
                    ablation: Ablation::Mean,
                    per_concept: DEFAULT_PER_CONCEPT,
                    concept: Some(26),
                    needed: Some(10),
                }
            }
        );
        let Route::Lesion { params, .. } = route("#/m/lesion?layer=l&units=9") else {
            panic!()
        };
        assert_eq!(
            (params.ablation, params.per_concept, params.concept),
            (Ablation::Zero, DEFAULT_PER_CONCEPT, None)
        );
        assert_eq!(
            route("#/m/attack?concept=star&word=apple&x=20&y=80&size=30&color=cc0000&seed=3"),
            Route::Attack {
                model: "m".into(),
                params: AttackParams {
                    concept: 3,
                    seed: 3,
                    word: "apple".into(),
                    x: 20,
                    y: 80,
                    size: 30,
                    colour: [0xcc, 0, 0],
                    label: None,
                    layer: None,
                }
            }
        );
        assert_eq!(
            route("#/m/attack"),
            Route::Attack {
                model: "m".into(),
                params: AttackParams::default()
            }
        );
        let Route::Attack { params, .. } =
            route("#/m/attack?word=the%20word&color=%23f80&layer=vision.blocks.0")
        else {
            panic!()
        };
        assert_eq!(params.word, "the word");
        assert_eq!(params.colour, [255, 136, 0]);
        assert_eq!(params.layer.as_deref(), Some("vision.blocks.0"));
        // A paper label goes into the link and comes back from it.
        let labelled = AttackParams {
            label: Some([0xf4, 0xf0, 0xe4]),
            ..AttackParams::default()
        };
        let hash = Route::Attack {
            model: "m".into(),
            params: labelled.clone(),
        }
        .to_hash();
        assert!(hash.contains("&label=f4f0e4"), "{hash}");
        let Route::Attack { params, .. } = route(&hash) else {
            panic!()
        };
        assert_eq!(params, labelled);
    }

    #[test]
    fn bad_analysis_links_say_why() {
        let msg = |h: &str| match route(h) {
            Route::Invalid { message } => message,
            other => panic!("{h} parsed as {other:?}"),
        };
        let m = msg("#/m/attack?concept=pizza");
        assert!(
            m.contains("`pizza` is not a concept") && m.contains("circle"),
            "{m}"
        );
        assert!(msg("#/m/lesion?layer=l&units=1&concept=pizza").contains("not a concept"));
        assert!(msg("#/m/lesion?units=1,2").contains("`layer=`"));
        assert!(msg("#/m/lesion?layer=l").contains("`units=`"));
        assert!(msg("#/m/lesion?layer=l&units=1,x").contains("invalid unit `x`"));
        assert!(msg("#/m/lesion?layer=l&needed=3").contains("name the concept"));
        assert!(msg("#/m/lesion?layer=l&needed=3&concept=eye&units=1").contains("not both"));
        for bad in ["0", "x", "-1", "100001"] {
            let m = msg(&format!("#/m/lesion?layer=l&concept=eye&needed={bad}"));
            assert!(m.contains("how many units the concept needs"), "{bad}: {m}");
        }
        assert!(msg("#/m/lesion?layer=l&units=0-99999999999").contains("at most"));
        assert!(msg("#/m/lesion?layer=l&units=1&mode=half").contains("`zero` or `mean`"));
        assert!(msg("#/m/l/multimodal?n=0").contains("between 1 and"));
        assert!(msg("#/m/l/multimodal?top=x").contains("whole number"));
        assert!(msg("#/m/l/families?k=0").contains("number of families"));
        assert!(msg("#/m/attack?x=101").contains("between 0 and 100"));
        assert!(msg("#/m/attack?size=90").contains("between"));
        assert!(msg("#/m/attack?color=red").contains("hex"));
        assert!(msg("#/m/attack?label=yes").contains("colour of its paper"));
        assert!(msg("#/m/attack?seed=500").contains("between 0 and 499"));
        assert!(msg("#/m/l/lesion").contains("nor a view"));
    }

    #[test]
    fn analysis_links_round_trip() {
        for r in [
            Route::Multimodal {
                model: "m".into(),
                layer: "vision.blocks.3.mlp".into(),
                params: MultimodalParams::default(),
            },
            Route::Multimodal {
                model: "clip vit".into(),
                layer: "vision.layer4.5".into(),
                params: MultimodalParams {
                    per_concept: 3,
                    top: 50,
                },
            },
            Route::Families {
                model: "m".into(),
                layer: "vision.blocks.3.mlp".into(),
                params: FamiliesParams {
                    k: 12,
                    seed: 9,
                    per_concept: 4,
                },
            },
            Route::Lesion {
                model: "m".into(),
                params: LesionParams {
                    layer: "vision.blocks.2.mlp".into(),
                    units: vec![1, 2, 30],
                    ablation: Ablation::Mean,
                    per_concept: 5,
                    concept: Some(17),
                    needed: None,
                },
            },
            Route::Lesion {
                model: "m".into(),
                params: LesionParams {
                    layer: "vision.post_ln".into(),
                    units: vec![],
                    ablation: Ablation::Zero,
                    per_concept: 3,
                    concept: Some(7),
                    needed: Some(4),
                },
            },
            Route::Attack {
                model: "m".into(),
                params: AttackParams {
                    concept: 29,
                    seed: 42,
                    word: "a cup & more".into(),
                    x: 0,
                    y: 100,
                    size: 5,
                    colour: [1, 2, 254],
                    label: Some([40, 38, 48]),
                    layer: Some("vision.blocks.0.mlp".into()),
                },
            },
            Route::Attack {
                model: "m".into(),
                params: AttackParams::default(),
            },
        ] {
            assert_eq!(route(&r.to_hash()), r, "{}", r.to_hash());
            let url = "https://example.org/m.msb";
            let loc = Location::parse("", &r.href(Some(url)));
            assert_eq!((loc.route, loc.src.as_deref()), (r, Some(url)));
        }
        let lesion = Route::Lesion {
            model: "m".into(),
            params: LesionParams {
                layer: "vision.blocks.3.mlp".into(),
                units: vec![1, 2, 3],
                ablation: Ablation::Zero,
                per_concept: DEFAULT_PER_CONCEPT,
                concept: None,
                needed: None,
            },
        };
        assert_eq!(
            lesion.to_hash(),
            "#/m/lesion?layer=vision.blocks.3.mlp&units=1,2,3&mode=zero"
        );
        assert_eq!(
            Route::Multimodal {
                model: "m".into(),
                layer: "l".into(),
                params: MultimodalParams::default()
            }
            .to_hash(),
            "#/m/l/multimodal"
        );
        assert_eq!(
            Route::Attack {
                model: "m".into(),
                params: AttackParams::default()
            }
            .to_hash(),
            "#/m/attack?concept=apple&word=house&x=50&y=50&size=22&color=ffffff"
        );
    }

    #[test]
    fn colours() {
        assert_eq!(parse_colour("cc0000"), Some([0xcc, 0, 0]));
        assert_eq!(parse_colour("#00FF7f"), Some([0, 255, 127]));
        assert_eq!(parse_colour("f0a"), Some([255, 0, 170]));
        assert_eq!(parse_colour("red"), None);
        assert_eq!(parse_colour("ééé"), None);
        assert_eq!(colour_hex([0, 10, 255]), "000aff");
    }

    #[test]
    fn percent_escapes() {
        assert_eq!(decode("a%20b%2Fc"), "a b/c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
