//! The attributes of a drawing or a word that captions can mention: size, position, style and
//! the tone of the background.

use crate::rng::Rng;

/// How large the object or word is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// Roughly 40–50 % of the image side for drawings, short capitals for words.
    Small,
    /// Roughly 60–72 % of the image side for drawings, tall capitals for words.
    Big,
}

impl Size {
    /// Both sizes, in id order.
    pub const ALL: [Size; 2] = [Size::Small, Size::Big];

    /// The adjective used in captions.
    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Big => "big",
        }
    }
}

/// Where in the image the object or word sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// Near the middle.
    Centre,
    /// Shifted left.
    Left,
    /// Shifted right.
    Right,
    /// Shifted up.
    Top,
    /// Shifted down.
    Bottom,
}

impl Position {
    /// Every position, in id order.
    pub const ALL: [Position; 5] = [
        Position::Centre,
        Position::Left,
        Position::Right,
        Position::Top,
        Position::Bottom,
    ];

    /// The phrase used in captions, e.g. "on the left".
    pub fn phrase(self) -> &'static str {
        match self {
            Position::Centre => "in the centre",
            Position::Left => "on the left",
            Position::Right => "on the right",
            Position::Top => "at the top",
            Position::Bottom => "at the bottom",
        }
    }

    /// The unit direction of the shift from the centre (x right, y down).
    pub fn direction(self) -> (f32, f32) {
        match self {
            Position::Centre => (0.0, 0.0),
            Position::Left => (-1.0, 0.0),
            Position::Right => (1.0, 0.0),
            Position::Top => (0.0, -1.0),
            Position::Bottom => (0.0, 1.0),
        }
    }

    /// A centre (fractions of the image) moved `shift` from the middle in this direction, with
    /// up to `wobble` of jitter across it (on both axes for the centre).
    pub(crate) fn sample_centre(self, rng: &mut Rng, shift: f32, wobble: f32) -> [f32; 2] {
        let (dx, dy) = self.direction();
        let mut along = |d: f32| {
            if d == 0.0 {
                rng.range(-wobble, wobble)
            } else {
                d * shift
            }
        };
        let x = along(dx);
        [0.5 + x, 0.5 + along(dy)]
    }

    /// The position whose shift best describes a centre at `(x, y)` (fractions of the image):
    /// shifts below `dead_zone` from the middle count as the centre.
    pub fn describe(x: f32, y: f32, dead_zone: f32) -> Position {
        let (dx, dy) = (x - 0.5, y - 0.5);
        if dx.abs() < dead_zone && dy.abs() < dead_zone {
            Position::Centre
        } else if dx.abs() >= dy.abs() {
            if dx < 0.0 {
                Position::Left
            } else {
                Position::Right
            }
        } else if dy < 0.0 {
            Position::Top
        } else {
            Position::Bottom
        }
    }
}

/// How a drawn shape is painted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Style {
    /// Solid colour with details in a contrasting shade.
    Filled,
    /// Only the contour (and details) in the colour.
    Outline,
    /// Diagonal stripes of the colour inside a thin contour.
    Striped,
    /// A grid of dots of the colour inside a thin contour.
    Dotted,
}

impl Style {
    /// Every style, in id order.
    pub const ALL: [Style; 4] = [Style::Filled, Style::Outline, Style::Striped, Style::Dotted];

    /// The adjective used in captions.
    pub fn name(self) -> &'static str {
        match self {
            Style::Filled => "solid",
            Style::Outline => "outlined",
            Style::Striped => "striped",
            Style::Dotted => "dotted",
        }
    }
}

/// Whether the background is pale or dark (what captions say about it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tone {
    /// A pale background.
    Light,
    /// A dark background.
    Dark,
}

impl Tone {
    /// Both tones, in id order.
    pub const ALL: [Tone; 2] = [Tone::Light, Tone::Dark];

    /// The adjective used in captions.
    pub fn name(self) -> &'static str {
        match self {
            Tone::Light => "light",
            Tone::Dark => "dark",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_inverts_direction() {
        for p in Position::ALL {
            let (dx, dy) = p.direction();
            assert_eq!(Position::describe(0.5 + 0.2 * dx, 0.5 + 0.2 * dy, 0.1), p);
        }
    }
}
