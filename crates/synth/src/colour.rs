//! The named colours of drawings and words, and the contrast measure that keeps them visible.

/// A colour as sRGB components scaled to `[0, 1]`.
pub(crate) type Rgb = [f32; 3];

/// A colour that captions can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Colour {
    /// Red.
    Red,
    /// Green.
    Green,
    /// Blue.
    Blue,
    /// Yellow.
    Yellow,
    /// Orange.
    Orange,
    /// Purple.
    Purple,
    /// Black.
    Black,
    /// White.
    White,
}

impl Colour {
    /// Every named colour, in id order.
    pub const ALL: [Colour; 8] = [
        Colour::Red,
        Colour::Green,
        Colour::Blue,
        Colour::Yellow,
        Colour::Orange,
        Colour::Purple,
        Colour::Black,
        Colour::White,
    ];

    /// The stable id of the colour (its index in [`Colour::ALL`]).
    pub fn id(self) -> usize {
        self as usize
    }

    /// The English name used in captions.
    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Yellow => "yellow",
            Colour::Orange => "orange",
            Colour::Purple => "purple",
            Colour::Black => "black",
            Colour::White => "white",
        }
    }

    /// The reference RGB value; samples jitter around it a little.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Red => [214, 39, 40],
            Colour::Green => [34, 150, 52],
            Colour::Blue => [31, 86, 214],
            Colour::Yellow => [247, 208, 32],
            Colour::Orange => [245, 130, 20],
            Colour::Purple => [128, 52, 178],
            Colour::Black => [22, 22, 24],
            Colour::White => [246, 246, 246],
        }
    }
}

/// Converts 8-bit RGB to `[0, 1]` components.
pub(crate) fn to_unit(c: [u8; 3]) -> Rgb {
    c.map(|v| f32::from(v) / 255.0)
}

/// Converts `[0, 1]` components to 8-bit RGB, rounding and clamping.
pub(crate) fn to_bytes(c: Rgb) -> [u8; 3] {
    c.map(|v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8)
}

/// Relative luminance with a gamma-2 approximation of the sRGB curve (no `powf`).
pub(crate) fn luminance(c: Rgb) -> f32 {
    0.2126 * c[0] * c[0] + 0.7152 * c[1] * c[1] + 0.0722 * c[2] * c[2]
}

/// The WCAG contrast ratio of two colours, from 1 (equal) to 21 (black on white).
pub(crate) fn contrast(a: Rgb, b: Rgb) -> f32 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_list() {
        for (i, c) in Colour::ALL.iter().enumerate() {
            assert_eq!(c.id(), i);
        }
    }

    #[test]
    fn contrast_is_symmetric_and_bounded() {
        let (w, k) = (to_unit([255; 3]), to_unit([0; 3]));
        assert!((contrast(w, k) - 21.0).abs() < 1e-3);
        assert_eq!(contrast(w, k), contrast(k, w));
        assert!((contrast(w, w) - 1.0).abs() < 1e-6);
    }
}
