//! Links of the image-set page (`#/{model}/images`) and of activation atlases
//! (`#/{model}/{layer}/atlas?level=1&x=0.42&y=0.6&zoom=2.5&samples=2000&seed=0`): the view
//! (zoom level, centre, zoom) and how the atlas is built (vectors sampled, seed, grids,
//! icon steps, sparse-cell cut-off).

use super::{number_in, pairs};
use crate::protocol::AtlasSpec;

/// Vectors an atlas samples unless the link says.
pub const DEFAULT_SAMPLES: usize = 2000;
/// The most vectors a link may ask for.
pub const MAX_SAMPLES: usize = 20_000;
/// The largest grid of a zoom level.
pub const MAX_LEVEL_SIZE: u32 = 64;
/// The most zoom levels.
pub const MAX_LEVELS: usize = 4;
/// The most icon steps a link may ask for.
pub const MAX_ICON_STEPS: usize = 1024;
/// The largest zoom (1 shows the whole atlas).
pub const MAX_ZOOM: f32 = 64.0;

/// The most images of a generated set a link may name.
pub const MAX_GENERATED_IMAGES: usize = 20_000;

/// The image set an atlas link names (`set=`), as the worker keys its sets
/// ([`crate::protocol::SetSummary::key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetKey {
    /// `generated:{count}:{seed}`: the procedural generator's images, which any page can make.
    Generated {
        /// Images.
        count: usize,
        /// Seed.
        seed: u64,
    },
    /// `files:{hash}`: files of the user's own (16 hex digits of their hash).
    Files(String),
}

impl SetKey {
    /// Reads a key (`None` if it is neither form).
    pub fn parse(key: &str) -> Option<Self> {
        if let Some(rest) = key.strip_prefix("generated:") {
            let (count, seed) = rest.split_once(':')?;
            let count: usize = count.parse().ok()?;
            let seed: u64 = seed.parse().ok()?;
            return (1..=MAX_GENERATED_IMAGES)
                .contains(&count)
                .then_some(Self::Generated { count, seed });
        }
        let hash = key.strip_prefix("files:")?;
        (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self::Files(hash.to_ascii_lowercase()))
    }

    /// The key as links and the worker write it.
    pub fn key(&self) -> String {
        match self {
            Self::Generated { count, seed } => format!("generated:{count}:{seed}"),
            Self::Files(hash) => format!("files:{hash}"),
        }
    }
}

/// An atlas view and how its atlas is built.
#[derive(Debug, Clone, PartialEq)]
pub struct AtlasParams {
    /// Zoom level shown (an index into `levels`).
    pub level: usize,
    /// Centre of the view, in the unit square of the layout.
    pub x: f32,
    /// Centre of the view, in the unit square of the layout.
    pub y: f32,
    /// Magnification: 1 shows the whole atlas.
    pub zoom: f32,
    /// Activation vectors sampled.
    pub samples: usize,
    /// Seed of the sampling, the layout and the icons.
    pub seed: u64,
    /// Grid sizes of the zoom levels, coarse to fine.
    pub levels: Vec<u32>,
    /// Optimization steps per icon.
    pub steps: usize,
    /// Cells with this many vectors or fewer are dropped.
    pub min_count: usize,
    /// The image set the atlas is built from (`None`: the one loaded, or on the built-in
    /// model its generated set).
    pub set: Option<SetKey>,
}

// Parsing refuses NaN, so equality is reflexive.
impl Eq for AtlasParams {}

impl Default for AtlasParams {
    fn default() -> Self {
        Self {
            level: 0,
            x: 0.5,
            y: 0.5,
            zoom: 1.0,
            samples: DEFAULT_SAMPLES,
            seed: 0,
            // Small enough to build on the CPU backend in a few minutes (icons at 32 steps).
            levels: vec![6, 12],
            steps: 32,
            min_count: 3,
            set: None,
        }
    }
}

impl AtlasParams {
    /// How the worker builds the atlas.
    pub fn spec(&self) -> AtlasSpec {
        AtlasSpec {
            samples: self.samples,
            seed: self.seed,
            levels: self.levels.clone(),
            min_count: self.min_count,
            steps: self.steps,
        }
    }

    /// Whether an atlas built with `spec` is the one these settings build.
    pub fn builds(&self, spec: &AtlasSpec) -> bool {
        &self.spec() == spec
    }

    /// The query string (without `?`): the view always, the build settings that differ from
    /// the defaults but samples and seed, which are always written.
    pub fn query(&self) -> String {
        let d = Self::default();
        let mut q = format!(
            "level={}&x={}&y={}&zoom={}&samples={}&seed={}",
            self.level,
            decimal(self.x, 3),
            decimal(self.y, 3),
            decimal(self.zoom, 2),
            self.samples,
            self.seed
        );
        if self.levels != d.levels {
            let levels: Vec<String> = self.levels.iter().map(u32::to_string).collect();
            q.push_str(&format!("&levels={}", levels.join(",")));
        }
        if self.steps != d.steps {
            q.push_str(&format!("&steps={}", self.steps));
        }
        if self.min_count != d.min_count {
            q.push_str(&format!("&min={}", self.min_count));
        }
        if let Some(set) = &self.set {
            q.push_str(&format!("&set={}", set.key()));
        }
        q
    }
}

/// `v` with at most `places` decimals, trailing zeros dropped.
fn decimal(v: f32, places: usize) -> String {
    let s = format!("{v:.places$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn fraction(
    key: &str,
    value: &str,
    what: &str,
    range: std::ops::RangeInclusive<f32>,
) -> Result<f32, String> {
    let v: f32 = value
        .trim()
        .parse()
        .map_err(|_| format!("`{key}={value}`: {what} must be a number"))?;
    if v.is_finite() && range.contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "`{key}={value}`: {what} must be between {} and {}",
            range.start(),
            range.end()
        ))
    }
}

/// Reads an atlas link's query (the build form checks its settings the same way).
pub fn parse_atlas(query: &str) -> Result<AtlasParams, String> {
    let mut p = AtlasParams::default();
    let mut level = None;
    for (key, value) in pairs(query) {
        match key.as_str() {
            "level" => {
                level = Some(
                    number_in(&key, &value, "the zoom level", 0..=MAX_LEVELS as u64 - 1)? as usize,
                )
            }
            "x" => p.x = fraction(&key, &value, "the centre", 0.0..=1.0)?,
            "y" => p.y = fraction(&key, &value, "the centre", 0.0..=1.0)?,
            "zoom" => p.zoom = fraction(&key, &value, "the zoom", 1.0..=MAX_ZOOM)?,
            "samples" => {
                p.samples = number_in(
                    &key,
                    &value,
                    "the number of sampled vectors",
                    2..=MAX_SAMPLES as u64,
                )? as usize
            }
            "seed" => p.seed = number_in(&key, &value, "the seed", 0..=u64::MAX)?,
            "levels" | "grid" => {
                let levels = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        number_in(&key, s, "a grid size", 1..=MAX_LEVEL_SIZE as u64)
                            .map(|n| n as u32)
                    })
                    .collect::<Result<Vec<u32>, String>>()?;
                if levels.is_empty() || levels.len() > MAX_LEVELS {
                    return Err(format!(
                        "`{key}={value}`: one to {MAX_LEVELS} grid sizes, e.g. 8,16"
                    ));
                }
                p.levels = levels;
            }
            "steps" => {
                p.steps = number_in(
                    &key,
                    &value,
                    "the number of icon steps",
                    1..=MAX_ICON_STEPS as u64,
                )? as usize
            }
            "min" | "min_count" => {
                p.min_count =
                    number_in(&key, &value, "the sparse-cell cut-off", 0..=100_000)? as usize
            }
            "set" => {
                p.set = Some(SetKey::parse(value.trim()).ok_or_else(|| {
                    format!(
                        "`set={value}`: the image set is `generated:COUNT:SEED` (1 to \
                         {MAX_GENERATED_IMAGES} images) or `files:` and 16 hex digits"
                    )
                })?)
            }
            _ => {}
        }
    }
    if let Some(level) = level {
        if level >= p.levels.len() {
            return Err(format!(
                "`level={level}`: the atlas has {} zoom level{} (0 to {})",
                p.levels.len(),
                if p.levels.len() == 1 { "" } else { "s" },
                p.levels.len() - 1
            ));
        }
        p.level = level;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::super::{Location, Route};
    use super::*;

    fn route(hash: &str) -> Route {
        Location::parse("", hash).route
    }

    #[test]
    fn the_image_set_page() {
        assert_eq!(
            route("#/modalscope-synth/images"),
            Route::Images {
                model: "modalscope-synth".into()
            }
        );
        let r = Route::Images { model: "m".into() };
        assert_eq!(r.href(None), "#/m/images");
        assert_eq!(route(&r.href(Some("http://h/m.msb"))), r);
    }

    #[test]
    fn atlas_links_keep_the_view() {
        let Route::Atlas {
            model,
            layer,
            params,
        } = route(
            "#/m/vision.blocks.3.mlp/atlas?level=1&x=0.25&y=0.75&zoom=2.5&samples=300&seed=4",
        )
        else {
            panic!()
        };
        assert_eq!(
            (model.as_str(), layer.as_str()),
            ("m", "vision.blocks.3.mlp")
        );
        assert_eq!(
            params,
            AtlasParams {
                level: 1,
                x: 0.25,
                y: 0.75,
                zoom: 2.5,
                samples: 300,
                seed: 4,
                ..AtlasParams::default()
            }
        );
        // Defaults, and the link written back.
        let Route::Atlas { params, .. } = route("#/m/l/atlas") else {
            panic!()
        };
        assert_eq!(params, AtlasParams::default());
        let custom = AtlasParams {
            level: 2,
            x: 0.125,
            y: 1.0,
            zoom: 3.0,
            samples: 250,
            seed: 9,
            levels: vec![3, 6, 12],
            steps: 16,
            min_count: 1,
            set: Some(SetKey::Generated {
                count: 300,
                seed: 7,
            }),
        };
        let r = Route::Atlas {
            model: "m".into(),
            layer: "vision.embeds".into(),
            params: custom.clone(),
        };
        let href = r.href(None);
        assert_eq!(
            href,
            "#/m/vision.embeds/atlas?level=2&x=0.125&y=1&zoom=3&samples=250&seed=9&levels=3,6,12&steps=16&min=1&set=generated:300:7"
        );
        assert_eq!(route(&href), r);
        assert_eq!(route(&r.href(Some("https://x/y.msb"))), r);
        assert_eq!(custom.spec().levels, vec![3, 6, 12]);
        assert!(custom.builds(&custom.spec()));
        assert!(!AtlasParams::default().builds(&custom.spec()));
        // A set of files: its hash.
        let Route::Atlas { params, .. } = route("#/m/l/atlas?set=files:00FF00ff00ff00ff") else {
            panic!()
        };
        assert_eq!(params.set, Some(SetKey::Files("00ff00ff00ff00ff".into())));
        assert_eq!(
            SetKey::parse("generated:200:7").unwrap().key(),
            "generated:200:7"
        );
        assert_eq!(MAX_GENERATED_IMAGES, crate::survey_jobs::MAX_GENERATED);
        // The keys the worker gives its sets read back as themselves.
        for key in [
            crate::survey_jobs::generated_key(40, 3),
            crate::survey_jobs::files_key(&[("a".into(), vec![1, 2])]),
        ] {
            assert_eq!(SetKey::parse(&key).map(|k| k.key()), Some(key));
        }
    }

    #[test]
    fn bad_atlas_links_say_why() {
        let message = |hash: &str| match route(hash) {
            Route::Invalid { message } => message,
            other => panic!("{hash} gave {other:?}"),
        };
        assert!(message("#/m/l/atlas?zoom=0.5").contains("zoom"));
        assert!(message("#/m/l/atlas?x=2").contains("centre"));
        assert!(message("#/m/l/atlas?x=nan").contains("centre"));
        assert!(message("#/m/l/atlas?samples=1").contains("sampled vectors"));
        assert!(message("#/m/l/atlas?levels=8,0").contains("grid size"));
        assert!(message("#/m/l/atlas?levels=1,2,3,4,5").contains("grid sizes"));
        assert!(message("#/m/l/atlas?level=2").contains("2 zoom levels"));
        assert!(message("#/m/l/atlas?level=2&levels=4").contains("1 zoom level (0 to 0)"));
        assert!(message("#/m/l/atlas?steps=0").contains("icon steps"));
        for bad in [
            "files:xyz",
            "generated:0:1",
            "generated:5",
            "photos",
            "files:0123",
        ] {
            assert!(
                message(&format!("#/m/l/atlas?set={bad}")).contains("image set"),
                "{bad}"
            );
        }
    }
}
